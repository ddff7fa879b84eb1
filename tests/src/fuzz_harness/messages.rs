//! Each message decoder of the core: varints, `Hello`, the frame parser, packed items.

use wirecall::__fuzz::{self as core, FrameView};

/// Input: the first byte picks the decoder, the rest is its input.
///
/// Oracles: no panic, and for each decoder what must hold of anything it accepts:
/// * varint: at most 5 bytes, within the input; the value encodes (minimally, in no more
///   bytes) and decodes back to itself;
/// * `Hello`: encoding what was parsed and parsing it again gives the same `Hello`, also
///   with extra trailing bytes (the extension rule);
/// * frames: the parser is deterministic; the kind it chose is the header's (or an
///   ignorable unknown kind); the tail is the end of the body; a parsed `Hello` body parses
///   the same way as above; an Items tail that counts as N items is delivered as exactly N
///   contiguous in-bounds items that end at the frame's end.
pub fn messages(data: &[u8]) {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => varints(input),
        1 => hello(input),
        _ => frame(input),
    }
}

fn varints(input: &[u8]) {
    let mut rest = input;
    while let Some((v, n)) = core::varint_decode(rest) {
        assert!(
            (1..=5).contains(&n) && n <= rest.len(),
            "varint of {n} bytes"
        );
        let mut buf = [0u8; 5];
        let m = core::varint_encode(v, &mut buf).expect("5 bytes hold any u32");
        // Non-minimal encodings are accepted (the spec tolerates them; see issue 11).
        assert!(m <= n, "{v} re-encodes in {m} bytes, read from {n}");
        assert_eq!(core::varint_decode(&buf[..m]), Some((v, m)));
        rest = &rest[n..];
    }
}

fn hello(body: &[u8]) {
    let Some(h) = core::hello_parse(body) else {
        return;
    };
    let mut out = [0u8; core::HELLO_MAX];
    let n = core::hello_encode(&h, &mut out);
    assert!(
        n <= body.len(),
        "a Hello re-encodes longer ({n}) than it was read ({})",
        body.len()
    );
    assert_eq!(core::hello_parse(&out[..n]), Some(h), "Hello round trip");
    let mut longer = out[..n].to_vec();
    longer.extend_from_slice(body);
    assert_eq!(
        core::hello_parse(&longer),
        Some(h),
        "trailing bytes change a Hello"
    );
}

fn frame(body: &[u8]) {
    let parsed = core::parse_frame(body);
    assert_eq!(
        parsed,
        core::parse_frame(body),
        "the parser is deterministic"
    );
    let Ok(view) = parsed else {
        return;
    };
    let header = body[0];
    let kind = view.kind();
    assert!(
        kind == header & core::KIND_MASK || (kind == 0 && header & 0x80 == 0),
        "header {header:#04x} parsed as kind {kind}"
    );
    if let Some(tail) = view.tail() {
        assert!(
            body.ends_with(tail) && tail.len() < body.len(),
            "tail outside the body"
        );
        assert_eq!(
            tail.as_ptr() as usize + tail.len(),
            body.as_ptr() as usize + body.len(),
            "the tail is the end of the body"
        );
        if kind == 1 {
            hello(tail);
        }
        if kind == 12 {
            packed(body, body.len() - tail.len(), tail, &view);
        }
    }
}

fn packed(frame: &[u8], at: usize, tail: &[u8], view: &FrameView<'_>) {
    let Some(count) = core::count_packed(tail) else {
        return;
    };
    let mut next = at;
    for i in 0..count {
        let (start, end) = core::packed_item(frame, next);
        assert!(
            next < start && start <= end && end <= frame.len(),
            "item {i} of {count} of {view:?} at {start}..{end} (from {next})"
        );
        next = end;
    }
    assert_eq!(
        next,
        frame.len(),
        "{count} items of {view:?} end before the frame"
    );
}
