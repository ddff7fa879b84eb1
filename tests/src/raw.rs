//! A second, deliberately plain implementation of the framing, written from
//! docs/PROTOCOL.md and kept apart from the core's: the byte-exact vectors are checked
//! against both, and hostile-peer tests use it to build frames the core would never send.

use crc::{Crc, CRC_32_ISCSI};

const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// COBS-encodes `data` (textbook algorithm, no trailing empty block after a full one).
pub fn cobs_encode(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    let mut code_at = 0;
    let mut code = 1u8;
    for (i, &b) in data.iter().enumerate() {
        if b == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(b);
            code += 1;
            if code == 0xff && i + 1 < data.len() {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out
}

/// Decodes one COBS block sequence (no delimiters); `None` if a code points past the end.
pub fn cobs_decode(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let code = data[i] as usize;
        if code == 0 || i + code > data.len() {
            return None;
        }
        out.extend_from_slice(&data[i + 1..i + code]);
        i += code;
        if code < 0xff && i < data.len() {
            out.push(0);
        }
    }
    Some(out)
}

/// The wire bytes of a frame whose decoded body is `body`: delimiter, COBS(body ‖ CRC), delimiter.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut decoded = body.to_vec();
    decoded.extend_from_slice(&CRC32C.checksum(body).to_le_bytes());
    let mut wire = vec![0u8];
    wire.extend(cobs_encode(&decoded));
    wire.push(0);
    wire
}

/// The decoded bodies (CRC checked and removed) of every frame in `wire`; broken frames
/// come out as `None`.
pub fn unframe(wire: &[u8]) -> Vec<Option<Vec<u8>>> {
    wire.split(|&b| b == 0)
        .filter(|chunk| !chunk.is_empty())
        .map(|chunk| {
            let decoded = cobs_decode(chunk)?;
            if decoded.len() < 5 {
                return None;
            }
            let (body, crc) = decoded.split_at(decoded.len() - 4);
            (CRC32C.checksum(body).to_le_bytes() == crc).then(|| body.to_vec())
        })
        .collect()
}

/// LEB128 encoding of `v`.
pub fn varint(mut v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// A `Hello` body with the given fields (header byte included).
#[allow(clippy::too_many_arguments)]
pub fn hello(
    reply: bool,
    version: u8,
    min_version: u8,
    max_frame: u32,
    max_inbound: u32,
    max_outbound: u32,
    keepalive_ms: u32,
    schema: u32,
) -> Vec<u8> {
    let mut b = vec![if reply { 0x21 } else { 0x01 }, version, min_version];
    for v in [0, max_frame, max_inbound, max_outbound, keepalive_ms] {
        b.extend(varint(v));
    }
    b.extend(schema.to_le_bytes());
    b
}

/// A `Request` body.
pub fn request(id: u32, procedure: u32, args: &[u8]) -> Vec<u8> {
    let mut b = vec![0x02];
    b.extend(varint(id));
    b.extend(varint(procedure));
    b.extend_from_slice(args);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cobs_textbook_examples() {
        assert_eq!(cobs_encode(&[0]), [1, 1]);
        assert_eq!(
            cobs_encode(&[0x11, 0x22, 0x00, 0x33]),
            [3, 0x11, 0x22, 2, 0x33]
        );
        let run: Vec<u8> = (1..=254).collect();
        let enc = cobs_encode(&run);
        assert_eq!(enc.len(), 255);
        assert_eq!(enc[0], 0xff);
        assert_eq!(cobs_decode(&enc).unwrap(), run);
        assert_eq!(cobs_decode(&[5, 1]), None);
    }
}
