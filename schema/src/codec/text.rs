//! The JSON conventions for what JSON has no exact form for: wide integers, non-finite
//! floats, and bytes. The crate docs state them; this file is their one implementation.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Number, Value};

/// An integer as JSON wrote it, in sign and magnitude so that everything from `i128::MIN`
/// to `u128::MAX` is exact before it is checked against a width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Int {
    negative: bool,
    magnitude: u128,
}

/// Why a JSON value is not an integer of some width.
pub(crate) enum IntError {
    /// Not an integer at all (a string where none is allowed, a fraction, a bool...).
    NotInteger,
    /// An integer, but too large for any width; carries it as written.
    TooLarge(String),
}

/// The largest integer a JSON float holds exactly (2^53): integral floats up to it are
/// taken as integers, since some JSON writers print every number as a float.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

impl Int {
    /// Reads a JSON number, or (if `strings`) a decimal string such as `"-12"`.
    pub(crate) fn from_json(value: &Value, strings: bool) -> Result<Int, IntError> {
        match value {
            Value::Number(n) => Int::from_number(n).ok_or(IntError::NotInteger),
            Value::String(s) if strings => Int::from_decimal(s),
            _ => Err(IntError::NotInteger),
        }
    }

    fn from_number(n: &Number) -> Option<Int> {
        if let Some(u) = n.as_u64() {
            return Some(Int::from_unsigned(u128::from(u)));
        }
        if let Some(i) = n.as_i64() {
            return Some(Int::from_signed(i128::from(i)));
        }
        let f = n.as_f64()?;
        if f.fract() != 0.0 || f.abs() > EXACT_FLOAT {
            return None;
        }
        // Exact: an integral float within 2^53 converts without rounding.
        Some(Int {
            negative: f < 0.0,
            magnitude: f.abs() as u128,
        })
    }

    /// A decimal integer with an optional sign; digits only, no spaces or exponent.
    pub(crate) fn from_decimal(text: &str) -> Result<Int, IntError> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IntError::NotInteger);
        }
        match digits.parse::<u128>() {
            Ok(magnitude) => Ok(Int {
                negative: negative && magnitude != 0,
                magnitude,
            }),
            Err(_) => Err(IntError::TooLarge(text.to_owned())),
        }
    }

    pub(crate) fn from_unsigned(magnitude: u128) -> Int {
        Int {
            negative: false,
            magnitude,
        }
    }

    pub(crate) fn from_signed(value: i128) -> Int {
        Int {
            negative: value < 0,
            magnitude: value.unsigned_abs(),
        }
    }

    /// The value as an unsigned integer of `bits` bits, if it fits.
    pub(crate) fn unsigned(self, bits: u32) -> Option<u128> {
        let max = u128::MAX >> (128 - bits);
        (!self.negative && self.magnitude <= max).then_some(self.magnitude)
    }

    /// The value as a signed integer of `bits` bits, if it fits.
    pub(crate) fn signed(self, bits: u32) -> Option<i128> {
        let limit = 1u128 << (bits - 1); // the magnitude of the minimum
        if self.negative {
            // `wrapping_neg` gives i128::MIN for a magnitude of 2^127.
            (self.magnitude <= limit).then(|| (self.magnitude as i128).wrapping_neg())
        } else {
            (self.magnitude < limit).then_some(self.magnitude as i128)
        }
    }

    /// A key that sorts integers in numeric order.
    pub(crate) fn order(self) -> (bool, u128) {
        if self.negative {
            (false, u128::MAX - self.magnitude)
        } else {
            (true, self.magnitude)
        }
    }
}

impl core::fmt::Display for Int {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        write!(f, "{sign}{}", self.magnitude)
    }
}

/// How a decoded integer prints: a JSON number when serde_json holds it exactly (within
/// `i64` or `u64`), otherwise a decimal string.
pub(crate) fn int_to_json(int: Int) -> Value {
    if let Some(u) = int.unsigned(64) {
        return Value::from(u as u64);
    }
    if let Some(i) = int.signed(64) {
        return Value::from(i as i64);
    }
    Value::String(int.to_string())
}

/// A float from JSON: a number, or `"NaN"`, `"inf"`, `"-inf"` (also `"+inf"`,
/// `"infinity"`, `"-infinity"`, in any case).
pub(crate) fn float_from_json(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// How a decoded `f64` prints: a number, or `"NaN"`, `"inf"`, `"-inf"`.
pub(crate) fn f64_to_json(f: f64) -> Value {
    if f.is_nan() {
        Value::from("NaN")
    } else if f.is_infinite() {
        Value::from(if f > 0.0 { "inf" } else { "-inf" })
    } else {
        Value::from(f)
    }
}

/// How a decoded `f32` prints: its shortest decimal form (`0.1`, not the
/// `0.10000000149011612` of its exact `f64`) whenever that form reads back through an `f64`
/// to the same `f32`, and its exact `f64` otherwise, so printing never loses the value.
pub(crate) fn f32_to_json(f: f32) -> Value {
    if !f.is_finite() {
        return f64_to_json(f64::from(f));
    }
    let short: f64 = f.to_string().parse().unwrap_or(f64::from(f));
    let chosen = if (short as f32).to_bits() == f.to_bits() {
        short
    } else {
        f64::from(f)
    };
    Value::from(chosen)
}

/// Standard base64, with or without its `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The bytes a JSON string stands for where bytes are expected: `0x` then hex digits (in
/// pairs, either case), `base64:` then base64, or else the string's own UTF-8.
pub(crate) fn bytes_from_text(text: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = text.strip_prefix("0x") {
        return hex_decode(hex);
    }
    if let Some(b64) = text.strip_prefix("base64:") {
        return BASE64.decode(b64).map_err(base64_message);
    }
    Ok(text.as_bytes().to_vec())
}

/// The base64 crate's error in this crate's words, with offsets into the whole string
/// (after the 7 characters of `base64:`).
fn base64_message(e: base64::DecodeError) -> String {
    use base64::DecodeError as E;
    const PREFIX: usize = "base64:".len();
    match e {
        E::InvalidByte(at, byte) => {
            format!(
                "bad base64: {:?} at {} is not a base64 digit",
                char::from(byte),
                at + PREFIX
            )
        }
        E::InvalidLength(n) => format!("bad base64: {n} digits is not a whole number of bytes"),
        E::InvalidLastSymbol(at, byte) => format!(
            "bad base64: the last digit {:?} at {} has bits left over",
            char::from(byte),
            at + PREFIX
        ),
        E::InvalidPadding => "bad base64: wrong padding".to_owned(),
    }
}

fn hex_decode(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err(format!("bad hex: an odd number of digits ({})", hex.len()));
    }
    let digit = |(i, c): (usize, char)| {
        c.to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("bad hex: {c:?} at {} is not a hex digit", i + 2))
    };
    let digits = hex
        .char_indices()
        .map(digit)
        .collect::<Result<Vec<u8>, _>>()?;
    Ok(digits
        .chunks(2)
        .map(|pair| pair.iter().fold(0, |acc, d| acc << 4 | d))
        .collect())
}

/// How decoded bytes print: as a string when they are UTF-8 without control characters and
/// could not be mistaken for the hex or base64 forms, otherwise as `"0x"` and lowercase hex.
/// Either way [`bytes_from_text`] gives the same bytes back.
pub(crate) fn bytes_to_json(bytes: &[u8]) -> Value {
    if let Ok(text) = core::str::from_utf8(bytes) {
        let readable = !text.chars().any(char::is_control)
            && !text.starts_with("0x")
            && !text.starts_with("base64:");
        if readable {
            return Value::from(text);
        }
    }
    let mut hex = String::with_capacity(2 + 2 * bytes.len());
    hex.push_str("0x");
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    Value::from(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_widths_and_signs() {
        let min = Int::from_signed(i128::MIN);
        assert_eq!(min.signed(128), Some(i128::MIN));
        assert_eq!(min.unsigned(128), None);
        assert_eq!(Int::from_unsigned(128).signed(8), None);
        assert_eq!(Int::from_signed(-128).signed(8), Some(-128));
        assert_eq!(Int::from_unsigned(u128::MAX).unsigned(128), Some(u128::MAX));
        assert!(matches!(Int::from_decimal("-0"), Ok(i) if i == Int::from_unsigned(0)));
        assert!(matches!(
            Int::from_decimal("1e3"),
            Err(IntError::NotInteger)
        ));
        assert!(Int::from_signed(-2).order() < Int::from_signed(-1).order());
        assert!(Int::from_signed(-1).order() < Int::from_unsigned(0).order());
    }

    #[test]
    fn bytes_forms() {
        assert_eq!(bytes_from_text("0x48656C6c"), Ok(b"Hell".to_vec()));
        assert_eq!(bytes_from_text("base64:SGVsbG8="), Ok(b"Hello".to_vec()));
        assert_eq!(bytes_from_text("base64:SGVsbG8"), Ok(b"Hello".to_vec()));
        assert_eq!(bytes_to_json(b"0x12"), Value::from("0x30783132"));
        assert_eq!(bytes_to_json(b"a\nb"), Value::from("0x610a62"));
        assert_eq!(bytes_to_json(b"Hello"), Value::from("Hello"));
    }
}
