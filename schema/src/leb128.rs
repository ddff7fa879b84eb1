//! LEB128 varints and zigzag, as postcard 1.x writes them.
//!
//! Seven bits per byte, least significant group first, the high bit set on every byte but
//! the last. A `bits`-wide integer takes at most `ceil(bits / 7)` bytes, and the last of
//! those may only carry the bits that are left; anything longer or larger is an error, as in
//! postcard. Redundant high zero groups (`0x80 0x00` for 0) are accepted, as postcard
//! accepts them; this crate writes the shortest form. Hand-written rather than taken from
//! the core so that this crate does not depend on it.

/// Why a varint did not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The bytes ended before the last byte of the varint.
    Truncated,
    /// More bytes than the width allows.
    TooLong,
    /// The value does not fit the width.
    Overflow,
}

/// Reads a `bits`-wide unsigned varint from the front of `bytes`: its value and length.
pub(crate) fn read(bytes: &[u8], bits: u32) -> Result<(u128, usize), VarintError> {
    let max_len = bits.div_ceil(7) as usize;
    let mut value: u128 = 0;
    for i in 0..max_len {
        let byte = *bytes.get(i).ok_or(VarintError::Truncated)?;
        let group = u128::from(byte & 0x7f);
        if i + 1 == max_len {
            if byte & 0x80 != 0 {
                return Err(VarintError::TooLong);
            }
            // The bits the last byte may carry: 4 for u32, 1 for u64, 2 for u128.
            let spare = bits - 7 * i as u32;
            if group >> spare != 0 {
                return Err(VarintError::Overflow);
            }
        }
        value |= group << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(VarintError::TooLong) // only for `bits == 0`, which no caller passes
}

/// Appends `value` as a varint, in the fewest bytes.
pub(crate) fn write(mut value: u128, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Maps a signed value to an unsigned one with small magnitudes staying small
/// (0, -1, 1, -2 → 0, 1, 2, 3). The result is the same at every width the value fits.
pub(crate) fn zigzag(value: i128) -> u128 {
    ((value << 1) ^ (value >> 127)) as u128
}

/// The inverse of [`zigzag`].
pub(crate) fn unzigzag(value: u128) -> i128 {
    ((value >> 1) as i128) ^ -((value & 1) as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings_and_limits() {
        let mut out = Vec::new();
        write(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(read(&[0xac, 0x02], 32), Ok((300, 2)));
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0x0f], 32),
            Ok((u128::from(u32::MAX), 5))
        );
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0x1f], 32),
            Err(VarintError::Overflow)
        );
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0x8f], 32),
            Err(VarintError::TooLong)
        );
        assert_eq!(read(&[0x80, 0x80], 32), Err(VarintError::Truncated));
        assert_eq!(read(&[0xff, 0xff, 0x03], 16), Ok((u128::from(u16::MAX), 3)));
        assert_eq!(read(&[0xff, 0xff, 0x04], 16), Err(VarintError::Overflow));
        assert_eq!(read(&[0x80, 0x00], 32), Ok((0, 2)));
        let mut max = vec![0xff; 18];
        max.push(0x03);
        assert_eq!(read(&max, 128), Ok((u128::MAX, 19)));
    }

    #[test]
    fn zigzag_extremes() {
        for v in [0, -1, 1, i128::MIN, i128::MAX, i128::from(i64::MIN)] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(i128::MIN), u128::MAX);
    }
}
