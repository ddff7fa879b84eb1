//! Names what a frame on the wire is, for showing a link (the Morse demo, `wirecall morse
//! decode`): its kind, call id and the rest, from docs/PROTOCOL.md section 3.

use wirecall::WireError;
use wirecall_tests::raw;

/// A run of wire bytes between delimiters: the frame it holds (CRC checked), described, or
/// why it is none.
pub(crate) fn describe_wire(chunk: &[u8]) -> String {
    let Some(decoded) = raw::cobs_decode(chunk) else {
        return "broken frame (bad COBS)".into();
    };
    match raw::unframe(&[&[0], chunk, &[0]].concat()).pop().flatten() {
        Some(body) => describe(&body),
        None if decoded.len() < 5 => "broken frame (too short)".into(),
        None => "broken frame (CRC mismatch)".into(),
    }
}

/// Describes a frame's body (CRC removed).
pub(crate) fn describe(body: &[u8]) -> String {
    let Some((&head, rest)) = body.split_first() else {
        return "empty frame".into();
    };
    let flag = head & 0x20 != 0;
    let kind = head & 0x1f;
    let with_id = |name: &str, rest: &[u8]| -> String {
        match varint(rest) {
            Some((id, tail)) => format!("{name} id {id}{}", bytes(tail)),
            None => format!("{name} (malformed id)"),
        }
    };
    match kind {
        1 => format!("Hello{}", if flag { " (reply)" } else { "" }),
        2 => match varint(rest).and_then(|(id, t)| varint(t).map(|(p, a)| (id, p, a))) {
            Some((id, procedure, args)) => {
                format!("Request id {id}, procedure {procedure}{}", bytes(args))
            }
            None => "Request (malformed)".into(),
        },
        3 => with_id("Reply", rest),
        4 => match varint(rest) {
            Some((id, [code, detail @ ..])) => format!(
                "Error id {id}: {}{}",
                WireError::from_u8(*code),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" \"{}\"", String::from_utf8_lossy(detail).escape_debug())
                }
            ),
            _ => "Error (malformed)".into(),
        },
        5 => with_id("Cancel", rest),
        6 => (if flag { "Pong" } else { "Ping" }).into(),
        7 => match rest.first() {
            Some(&code) => format!("Close: {}", WireError::from_u8(code)),
            None => "Close".into(),
        },
        8 => with_id("Open", rest),
        9 => with_id(if flag { "Item (server)" } else { "Item" }, rest),
        10 => with_id("Credit", rest),
        11 => with_id("End", rest),
        12 => with_id("Items", rest),
        14 => (if flag {
            "Manifest piece"
        } else {
            "Manifest request"
        })
        .into(),
        k => format!("frame of kind {k}"),
    }
}

/// `: 01 02 03`, or nothing for no bytes.
fn bytes(b: &[u8]) -> String {
    if b.is_empty() {
        return String::new();
    }
    format!(", bytes {}", hex(b))
}

/// Bytes as spaced hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A LEB128 varint and what follows it.
fn varint(b: &[u8]) -> Option<(u32, &[u8])> {
    let mut v: u32 = 0;
    for (i, &x) in b.iter().enumerate().take(5) {
        v |= u32::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return b.get(i + 1..).map(|rest| (v, rest));
        }
    }
    None
}
