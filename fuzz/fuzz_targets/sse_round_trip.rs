//! Events the gateway writes (a rewritten `tools/list`, its own refusals)
//! must read back as they were meant, and re-encoding a parsed event must
//! not change what it says.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use toolgate_mcp::sse::{SseError, SseEvent, SseParser};

#[derive(Debug, Arbitrary)]
struct Input {
    id: Option<String>,
    event: Option<String>,
    data: Option<Vec<u8>>,
    retry: Option<u64>,
    comments: Vec<String>,
    /// A stream to parse, re-encode and parse again.
    stream: Vec<u8>,
}

fn parse_all(bytes: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::with_max_event_size(usize::MAX);
    parser
        .feed(bytes)
        .collect::<Result<_, _>>()
        .expect("no size cap, no error")
}

fn breaks_framing(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

fuzz_target!(|input: Input| {
    // Fields → encode → parse gives the fields back.
    let mut built = SseEvent::default();
    let set_id = built.set_id(input.id.as_deref());
    assert_eq!(
        set_id.is_err(),
        input.id.as_deref().is_some_and(breaks_framing)
    );
    if set_id.is_err() {
        assert_eq!(set_id, Err(SseError::InvalidFieldValue));
        // An id with NUL would be ignored by the reader: leave it out.
        built.set_id(None).expect("no id is fine");
    }
    if built.set_event(input.event.as_deref()).is_err() {
        built.set_event(None).expect("no event is fine");
    }
    if let Some(data) = &input.data {
        built.set_data(data.clone());
    }
    built.set_retry(input.retry);
    for comment in &input.comments {
        let pushed = built.push_comment(comment);
        assert_eq!(pushed.is_err(), breaks_framing(comment));
    }
    let encoded = built.encode();
    let read = parse_all(&encoded);
    if encoded[..] == b"\n"[..] {
        // Nothing to say: a lone blank line, which readers drop.
        assert!(read.is_empty());
    } else {
        assert_eq!(read.len(), 1, "{encoded:?}");
        let back = &read[0];
        assert_eq!(back.id(), built.id());
        assert_eq!(back.event(), built.event());
        assert_eq!(back.retry(), built.retry());
        assert_eq!(back.comments(), built.comments());
        // Line ends inside data come back as `\n`, however they were written.
        let normalised = built.data().map(|d| {
            let text = d.to_vec();
            let mut out = Vec::with_capacity(text.len());
            let mut i = 0;
            while i < text.len() {
                match text[i] {
                    b'\r' => {
                        out.push(b'\n');
                        if text.get(i + 1) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            out
        });
        assert_eq!(back.data().map(<[u8]>::to_vec), normalised);
        assert_eq!(back.raw().map(|raw| &raw[..]), Some(&encoded[..]));
    }

    // Parse → encode → parse says the same.
    for event in parse_all(&input.stream) {
        let encoded = event.encode();
        let again = parse_all(&encoded);
        if encoded[..] == b"\n"[..] {
            assert!(again.is_empty());
            continue;
        }
        assert_eq!(again.len(), 1, "{event:?} encoded as {encoded:?}");
        let again = &again[0];
        assert_eq!(again.id(), event.id());
        assert_eq!(again.event(), event.event());
        assert_eq!(again.data(), event.data());
        assert_eq!(again.retry(), event.retry());
        assert_eq!(again.comments(), event.comments());
    }
});
