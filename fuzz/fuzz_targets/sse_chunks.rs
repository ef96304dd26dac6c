//! An upstream SSE stream cut into arbitrary chunks.
//!
//! Input: the first byte picks the event size cap (small caps reach the
//! "too large" paths), the next eight bytes where to cut, the rest is the
//! stream. However the bytes arrive, the parser yields the same events and
//! the same error, and relaying the events' raw bytes downstream reproduces
//! them for the agent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate_mcp::sse::{SseError, SseEvent, SseParser, DEFAULT_MAX_EVENT_SIZE};

/// What an event means, without the bytes it came as.
type Fields = (
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    Option<u64>,
    Vec<String>,
);

fn fields(event: &SseEvent) -> Fields {
    (
        event.id().map(str::to_owned),
        event.event().map(str::to_owned),
        event.data().map(<[u8]>::to_vec),
        event.retry(),
        event.comments().to_vec(),
    )
}

struct Parsed {
    events: Vec<SseEvent>,
    error: Option<SseError>,
}

fn parse(input: &[u8], cuts: &[usize], max: usize) -> Parsed {
    let mut parser = SseParser::with_max_event_size(max);
    let mut events = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        parser.push(&input[start..end]);
        start = end;
        loop {
            match parser.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => {
                    // A failed parser stays failed and holds nothing.
                    assert_eq!(parser.next_event(), Err(error.clone()));
                    assert_eq!(parser.buffered_len(), 0);
                    return Parsed {
                        events,
                        error: Some(error),
                    };
                }
            }
        }
    }
    Parsed {
        events,
        error: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cap, rest)) = data.split_first() else {
        return;
    };
    let (cut_bytes, input) = rest.split_at(rest.len().min(8));
    let max = match cap {
        0 => DEFAULT_MAX_EVENT_SIZE,
        n => usize::from(n),
    };
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .scan(0usize, |at, &step| {
            *at += usize::from(step);
            Some((*at).min(input.len()))
        })
        .collect();
    cuts.dedup();

    let whole = parse(input, &[], max);
    let chunked = parse(input, &cuts, max);
    let byte_by_byte = parse(input, &(0..input.len()).collect::<Vec<_>>(), max);
    let meaning = |p: &Parsed| p.events.iter().map(fields).collect::<Vec<_>>();
    assert_eq!(whole.error, chunked.error);
    assert_eq!(whole.error, byte_by_byte.error);
    assert_eq!(meaning(&whole), meaning(&chunked));
    assert_eq!(meaning(&whole), meaning(&byte_by_byte));

    for event in &chunked.events {
        let raw = event.raw().expect("a parsed event keeps its bytes");
        assert_eq!(event.to_bytes(), raw);
        if max != DEFAULT_MAX_EVENT_SIZE {
            // The size counted excludes a `\n` carried over from the last event.
            let own = raw.strip_prefix(b"\n").unwrap_or(raw);
            assert!(own.len() <= max + 1, "{} > {max}", own.len());
        }
    }
    // Relayed as received, the events reach the agent unchanged.
    let relayed: Vec<u8> = chunked
        .events
        .iter()
        .flat_map(|e| e.to_bytes().to_vec())
        .collect();
    let downstream = parse(&relayed, &[], usize::MAX);
    assert_eq!(downstream.error, None);
    assert_eq!(meaning(&downstream), meaning(&chunked));
    // Also after an event the gateway writes itself (a refusal in a batch).
    let own = SseEvent::message(&b"{}"[..]);
    let mut behind = own.encode().to_vec();
    behind.extend_from_slice(&relayed);
    let downstream = parse(&behind, &[], usize::MAX);
    assert_eq!(downstream.error, None);
    let mut expected = vec![fields(&own)];
    expected.extend(meaning(&chunked));
    assert_eq!(meaning(&downstream), expected);
});
