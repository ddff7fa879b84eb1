//! LEB128 variable-length unsigned integers, as postcard encodes them.
//!
//! Seven bits per byte, least significant group first, high bit set on every byte but the
//! last. A `u32` takes one byte below 128 and at most five. Decoding is strict: a value
//! that does not fit in 32 bits, or a fifth byte with more than four value bits, is an
//! error, never a silent truncation. Hand-written (eight lines each way) because the
//! frame parser needs it on raw slices without a serde round trip.

/// Largest encoded size of a `u32`.
pub(crate) const MAX_LEN: usize = 5;

/// Writes `value` into `out`, returning the bytes used, or `None` if `out` is too short.
pub(crate) fn encode(mut value: u32, out: &mut [u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let slot = out.get_mut(i)?;
        i = i.saturating_add(1);
        if value == 0 {
            *slot = byte;
            return Some(i);
        }
        *slot = byte | 0x80;
    }
}

/// Reads a value from the front of `input`, returning it and the bytes used.
#[inline]
pub(crate) fn decode(input: &[u8]) -> Option<(u32, usize)> {
    // Ids and procedure numbers are almost always below 128: one byte.
    if let Some(&b) = input.first() {
        if b < 0x80 {
            return Some((u32::from(b), 1));
        }
    }
    let mut value: u32 = 0;
    for (i, &byte) in input.iter().take(MAX_LEN).enumerate() {
        let bits = u32::from(byte & 0x7f);
        if i == MAX_LEN - 1 && bits > 0x0f {
            return None; // would overflow 32 bits
        }
        // i < 5, so the shift is at most 28 and the value fits (checked above for i = 4).
        value |= bits.checked_shl((i as u32).saturating_mul(7)).unwrap_or(0);
        if byte & 0x80 == 0 {
            return Some((value, i.saturating_add(1)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn non_minimal_forms_are_the_same_value_and_never_longer_than_five_bytes() {
        // docs/PROTOCOL.md section 1: accepted (postcard's payloads accept them too).
        assert_eq!(decode(&[0x80, 0x00]), Some((0, 2)));
        assert_eq!(decode(&[0xff, 0x80, 0x80, 0x80, 0x00]), Some((127, 5)));
        assert_eq!(decode(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), None);
        assert_eq!(decode(&[0x80, 0x80, 0x80, 0x80, 0x10]), None);
    }

    #[test]
    fn known_encodings() {
        let mut buf = [0u8; 5];
        assert_eq!(encode(0, &mut buf), Some(1));
        assert_eq!(buf[0], 0);
        assert_eq!(encode(300, &mut buf), Some(2));
        assert_eq!(&buf[..2], &[0xac, 0x02]);
        assert_eq!(encode(u32::MAX, &mut buf), Some(5));
        assert_eq!(buf, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff, 0x1f]), None);
        assert_eq!(decode(&[0x80, 0x80]), None);
        assert_eq!(encode(300, &mut buf[..1]), None);
    }

    proptest! {
        #[test]
        fn round_trip(v in any::<u32>()) {
            let mut buf = [0u8; 5];
            let n = encode(v, &mut buf).unwrap();
            prop_assert_eq!(n, if v < 128 { 1 } else { n });
            prop_assert_eq!(decode(&buf[..n]), Some((v, n)));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            let _ = decode(&bytes);
        }
    }
}
