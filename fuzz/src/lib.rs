//! What the fuzz targets share: how one input splits into parts.
//!
//! A target that needs several inputs (a body and its headers, a policy and a
//! call) reads them as NUL-separated sections. JSON text never holds a raw
//! NUL, so a seed is the real document followed by `\0` and the rest, and
//! stays readable in the corpus.

/// The first `N` NUL-separated sections of `data`; missing ones are `None`.
/// Whatever follows the `N`th separator belongs to the last section.
pub fn sections<const N: usize>(data: &[u8]) -> [Option<&[u8]>; N] {
    let mut out = [None; N];
    let mut rest = Some(data);
    for (i, slot) in out.iter_mut().enumerate() {
        let Some(current) = rest else { break };
        if i + 1 == N {
            *slot = Some(current);
            break;
        }
        match current.iter().position(|&b| b == 0) {
            Some(nul) => {
                *slot = Some(&current[..nul]);
                rest = Some(&current[nul + 1..]);
            }
            None => {
                *slot = Some(current);
                rest = None;
            }
        }
    }
    out
}

/// A section as text, when it is UTF-8 (header values and tool names are).
pub fn text(section: Option<&[u8]>) -> Option<&str> {
    section.and_then(|bytes| std::str::from_utf8(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_nul_and_keeps_the_tail_whole() {
        let [a, b, c] = sections::<3>(b"one\0two\0three\0four");
        assert_eq!(a, Some(&b"one"[..]));
        assert_eq!(b, Some(&b"two"[..]));
        assert_eq!(c, Some(&b"three\0four"[..]));
        assert_eq!(sections::<3>(b"only"), [Some(&b"only"[..]), None, None]);
        assert_eq!(sections::<2>(b"a\0"), [Some(&b"a"[..]), Some(&b""[..])]);
    }
}
