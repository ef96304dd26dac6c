//! Benchmark kit for Toolgate: what `bench/run` starts and drives.
//!
//! - `toolgate-upstream`: a fast, stateless MCP server (Streamable HTTP, JSON
//!   answers) with 60 tools, `echo` among them, so the upstream is never the
//!   bottleneck.
//! - `toolgate-load`: an MCP load generator (handshake, then `tools/call` with
//!   a fixed number of calls in flight) printing throughput and latency as JSON.
//! - `toolgate-seed`: seeds a benchmark database through `toolgate_store`.

#![forbid(unsafe_code)]

/// The tools the upstream lists: `echo`, then `tool_00` … `tool_58`.
pub fn tool_names() -> Vec<String> {
    std::iter::once("echo".to_owned())
        .chain((0..59).map(|i| format!("tool_{i:02}")))
        .collect()
}

/// Percentile `p` (0..=100) of sorted latencies, in microseconds.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn sixty_tools_with_echo() {
        let names = tool_names();
        assert_eq!(names.len(), 60);
        assert_eq!(names[0], "echo");
    }
}
