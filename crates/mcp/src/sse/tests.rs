use proptest::prelude::*;

use super::*;

/// The meaning of an event, without its raw bytes.
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

/// Parses `input` fed in the given chunks; returns the events, then the error
/// that stopped the stream, if any.
fn parse_chunked(input: &[u8], cuts: &[usize], max: usize) -> (Vec<SseEvent>, Option<SseError>) {
    let (events, err, _) = parse_chunked_with_remainder(input, cuts, max);
    (events, err)
}

fn parse_chunked_with_remainder(
    input: &[u8],
    cuts: &[usize],
    max: usize,
) -> (Vec<SseEvent>, Option<SseError>, Vec<u8>) {
    let mut parser = SseParser::with_max_event_size(max);
    let mut events = Vec::new();
    let mut start = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    ends.sort_unstable();
    ends.push(input.len());
    for end in ends {
        for event in parser.feed(&input[start..end]) {
            match event {
                Ok(event) => events.push(event),
                Err(err) => return (events, Some(err), Vec::new()),
            }
        }
        start = end;
    }
    (events, None, parser.into_remainder().to_vec())
}

fn parse_all(input: &[u8]) -> Vec<SseEvent> {
    let (events, err) = parse_chunked(input, &[], DEFAULT_MAX_EVENT_SIZE);
    assert_eq!(err, None);
    events
}

#[test]
fn reads_a_typical_mcp_stream() {
    let input = b"id: s1-0\ndata:\n\nevent: message\nid: s1-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n: keep-alive\n\nretry: 1500\n\n";
    let events = parse_all(input);
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].id(), Some("s1-0"));
    assert_eq!(events[0].data(), Some(&b""[..]));
    assert_eq!(events[1].event(), Some("message"));
    assert_eq!(
        events[1].data_str(),
        Some("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}")
    );
    assert_eq!(events[2].comments(), [" keep-alive".to_owned()]);
    assert_eq!(events[2].data(), None);
    assert_eq!(events[3].retry(), Some(1500));
    let relayed: Vec<u8> = events.iter().flat_map(|e| e.to_bytes().to_vec()).collect();
    assert_eq!(relayed, input);
}

#[test]
fn all_three_line_endings() {
    for input in [
        &b"data: a\ndata: b\n\n"[..],
        b"data: a\r\ndata: b\r\n\r\n",
        b"data: a\rdata: b\r\r",
    ] {
        let events = parse_all(input);
        assert_eq!(events.len(), 1, "{input:?}");
        assert_eq!(events[0].data(), Some(&b"a\nb"[..]));
        assert_eq!(&events[0].raw().unwrap()[..], input);
    }
}

#[test]
fn field_rules() {
    let events = parse_all(b"data\nid\nevent:  two spaces\nfoo: bar\nretry: 12x\n\n");
    let e = &events[0];
    assert_eq!(e.data(), Some(&b""[..]));
    assert_eq!(e.id(), Some(""));
    assert_eq!(e.event(), Some(" two spaces"));
    assert_eq!(e.retry(), None);
    let events = parse_all(
        b"id: a\0b\nretry: 99999999999999999999999\nretry: 5\nretry:\n:c1\n:\nid: z\nid: last\n\n",
    );
    let e = &events[0];
    assert_eq!(e.id(), Some("last"));
    assert_eq!(e.retry(), Some(5));
    assert_eq!(e.comments(), ["c1".to_owned(), String::new()]);
    let events = parse_all(b"id: a\0b\ndata:x\n\n");
    assert_eq!(events[0].id(), None);
    assert_eq!(events[0].data(), Some(&b"x"[..]));
}

#[test]
fn stray_blank_lines_are_dropped_and_unknown_only_events_kept() {
    let events = parse_all(b"\n\r\n\rfoo: 1\n\n\n\n");
    assert_eq!(events.len(), 1);
    assert_eq!(&events[0].raw().unwrap()[..], b"foo: 1\n\n");
    assert_eq!(fields(&events[0]), (None, None, None, None, vec![]));
}

#[test]
fn bom_is_skipped_at_the_start_only() {
    let events = parse_all(b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(events[0].data(), Some(&b"a"[..]));
    assert_eq!(&events[0].raw().unwrap()[..], b"data: a\n\n");
    // A BOM later is part of a field name.
    assert_eq!(events[1].data(), None);
    let (events, _) = parse_chunked(b"\xEF\xBB\xBFdata: a\n\n", &[1, 2], DEFAULT_MAX_EVENT_SIZE);
    assert_eq!(events[0].data(), Some(&b"a"[..]));
    // A stream that starts like a BOM but is not one.
    assert!(parse_all(b"\xEFdata: a\n\n").len() == 1);
}

/// Found by fuzzing: relayed after the gateway's own events (refusals in a
/// batch), an upstream's leading BOM would have made the first event's
/// `data` a field named `\u{FEFF}data`, and the agent would have lost it.
#[test]
fn a_leading_bom_is_not_relayed() {
    let events = parse_all(b"\xEF\xBB\xBFdata: a\n\n");
    let mut relayed = SseEvent::message(&b"{}"[..]).encode().to_vec();
    relayed.extend_from_slice(events[0].raw().unwrap());
    let downstream = parse_all(&relayed);
    assert_eq!(downstream.len(), 2);
    assert_eq!(downstream[1].data(), Some(&b"a"[..]));
}

/// Found by fuzzing: mid-stream, BOM bytes start a field name, so this event
/// has no data. Its blank line before is dropped; relayed first, the BOM
/// bytes would open the agent's stream, be stripped as its BOM, and the
/// agent would read a `data` the gateway never saw (nor filtered).
#[test]
fn bom_bytes_inside_the_stream_stay_a_field_name_when_relayed() {
    let events = parse_all(b"\n\xEF\xBB\xBFdata: x\n\n");
    assert_eq!(fields(&events[0]), (None, None, None, None, vec![]));
    let raw = events[0].raw().unwrap();
    assert_eq!(&raw[..], b"\n\xEF\xBB\xBFdata: x\n\n");
    assert_eq!(fields(&parse_all(raw)[0]), fields(&events[0]));

    // The fuzzer's input: 18 blank lines, then a BOM-led line, cut at these
    // offsets, with a 36-byte cap.
    let mut input = vec![b'\r'; 18];
    input.extend_from_slice(
        b"\xEF\xBB\xBF\r\r\r\r\r\r\xff\xff\xff\x12\xff\xff\x00\x10\x01z\xff\xff\xffr",
    );
    input.extend_from_slice(&[b'\r'; 8]);
    let (events, err) = parse_chunked(&input, &[7, 8, 9, 10, 11, 44, 45, 46], 36);
    assert_eq!((events.len(), err), (2, None));
    let relayed: Vec<u8> = events.iter().flat_map(|e| e.to_bytes().to_vec()).collect();
    assert_eq!(
        parse_all(&relayed).iter().map(fields).collect::<Vec<_>>(),
        events.iter().map(fields).collect::<Vec<_>>()
    );
}

#[test]
fn crlf_split_across_chunks_counts_once() {
    let mut parser = SseParser::new();
    let first: Vec<_> = parser
        .feed(b"data: a\r\n\r")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(first.len(), 1, "dispatched without waiting for the LF");
    let second: Vec<_> = parser
        .feed(b"\ndata: b\n\n")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].data(), Some(&b"b"[..]));
    assert_eq!(&second[0].raw().unwrap()[..], b"\ndata: b\n\n");
}

#[test]
fn incomplete_events_wait_and_remain() {
    let mut parser = SseParser::new();
    assert!(parser.feed(b"data: par").next().is_none());
    assert!(parser.feed(b"tial\n").next().is_none());
    assert_eq!(parser.buffered_len(), 14);
    assert_eq!(&parser.into_remainder()[..], b"data: partial\n");
}

#[test]
fn buffer_holds_only_the_current_event() {
    let mut parser = SseParser::new();
    for _ in 0..1000 {
        assert_eq!(parser.feed(b"data: x\n\ndata: y").count(), 1);
        assert_eq!(parser.feed(b"\n\n").count(), 1);
    }
    assert_eq!(parser.buffered_len(), 0);
}

#[test]
fn oversized_events_are_an_error_however_they_arrive() {
    let input = b"data: 0123456789\n\n";
    let (events, err) = parse_chunked(input, &[], 10);
    assert!(events.is_empty());
    assert_eq!(err, Some(SseError::EventTooLarge { limit: 10 }));
    let (_, err) = parse_chunked(input, &[3, 7], 10);
    assert_eq!(err, Some(SseError::EventTooLarge { limit: 10 }));
    // Exactly at the cap is fine.
    let (events, err) = parse_chunked(b"data: 12\n\n", &[], 10);
    assert_eq!((events.len(), err), (1, None));
    // An endless line is cut off without a line end ever arriving.
    let mut parser = SseParser::with_max_event_size(100);
    let mut result = Ok(None);
    for _ in 0..20 {
        parser.push(b"0123456789");
        result = parser.next_event();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(SseError::EventTooLarge { limit: 100 }));
    assert!(parser.buffered_len() == 0);
    parser.push(b"\n\n");
    assert!(parser.next_event().is_err(), "a failed parser stays failed");
}

#[test]
fn rewritten_events_round_trip_through_the_parser() {
    let mut event = parse_all(b"id: 7\ndata: {\"old\":1}\n\n").remove(0);
    event.set_data(&b"{\"new\":2}"[..]);
    let reparsed = parse_all(&event.to_bytes()).remove(0);
    assert_eq!(reparsed.id(), Some("7"));
    assert_eq!(reparsed.data(), Some(&b"{\"new\":2}"[..]));
}

fn line_end() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 :{}\",\\-]{0,12}"
}

prop_compose! {
    fn event_fields()(
        id in proptest::option::of(text()),
        event in proptest::option::of("[a-z]{1,8}"),
        data in proptest::option::of(proptest::collection::vec(text(), 1..4)),
        retry in proptest::option::of(0u64..100_000),
        comments in proptest::collection::vec(text(), 0..2),
    ) -> SseEvent {
        let mut e = SseEvent::default();
        e.set_id(id.as_deref()).unwrap();
        e.set_event(event.as_deref()).unwrap();
        if let Some(lines) = data { e.set_data(lines.join("\n")); }
        e.set_retry(retry);
        for c in &comments { e.push_comment(c).unwrap(); }
        if e.encode().len() == 1 { e.push_comment("").unwrap(); }
        e
    }
}

/// Encodes events, then swaps each `\n` line end for the chosen one (a `\n`
/// right after a `\r` end would merge with it, so it becomes `\r\n`).
fn stream(events: &[SseEvent], ends: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut k = 0;
    for event in events {
        for &b in event.encode().iter() {
            if b == b'\n' {
                let mut end = ends[k % ends.len()];
                if end == "\n" && out.last() == Some(&b'\r') {
                    end = "\r\n";
                }
                out.extend_from_slice(end.as_bytes());
                k += 1;
            } else {
                out.push(b);
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn chunking_never_changes_the_events(
        events in proptest::collection::vec(event_fields(), 0..6),
        ends in proptest::collection::vec(line_end(), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let input = stream(&events, &ends);
        let (whole, err) = parse_chunked(&input, &[], DEFAULT_MAX_EVENT_SIZE);
        prop_assert_eq!(err, None);
        let (chunked, err, remainder) = parse_chunked_with_remainder(&input, &cuts, DEFAULT_MAX_EVENT_SIZE);
        prop_assert_eq!(err, None);
        prop_assert_eq!(whole.iter().map(fields).collect::<Vec<_>>(), events.iter().map(fields).collect::<Vec<_>>());
        prop_assert_eq!(chunked.iter().map(fields).collect::<Vec<_>>(), events.iter().map(fields).collect::<Vec<_>>());
        let mut relayed: Vec<u8> = chunked.iter().flat_map(|e| e.to_bytes().to_vec()).collect();
        relayed.extend_from_slice(&remainder);
        prop_assert_eq!(relayed, input);
    }

    #[test]
    fn chunking_never_changes_arbitrary_streams(
        input in proptest::collection::vec(prop_oneof![
            Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(0u8), Just(0xEF),
            Just(b'd'), Just(b'a'), Just(b't'), Just(b'i'), any::<u8>()], 0..200),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max in 1usize..64,
    ) {
        let (whole, whole_err) = parse_chunked(&input, &[], max);
        let (chunked, chunked_err) = parse_chunked(&input, &cuts, max);
        prop_assert_eq!(whole_err, chunked_err);
        prop_assert_eq!(whole.iter().map(fields).collect::<Vec<_>>(), chunked.iter().map(fields).collect::<Vec<_>>());
        // Relaying the raw bytes reproduces the same events downstream.
        let relayed: Vec<u8> = chunked.iter().flat_map(|e| e.to_bytes().to_vec()).collect();
        let (reparsed, _) = parse_chunked(&relayed, &[], usize::MAX);
        prop_assert_eq!(reparsed.iter().map(fields).collect::<Vec<_>>(), chunked.iter().map(fields).collect::<Vec<_>>());
    }
}
