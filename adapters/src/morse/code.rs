//! The mapping from bytes to Morse: each byte is two hexadecimal digits (high nibble first)
//! in International Morse (ITU-R M.1677-1), sent as one word.
//!
//! Why hex digits, and one word per byte: any Morse reader (a person with a chart, fldigi,
//! a phone app) transcribes the link as plain hex, so a recording can be checked without
//! this crate; and the word gap after every byte gives the decoder byte alignment, so a
//! lost or garbled element costs that one byte (which the frame's CRC then catches)
//! rather than shifting every byte after it. The price is speed: a byte takes 33 units on
//! average (two characters of 11.4 units, a letter gap of 3, a word gap of 7), where the
//! 16 shortest Morse codes would take 23; see docs/MORSE.md.

/// One character: `len` elements (1 to 5), the first in the highest of the `len` low bits
/// of `dahs`, a set bit a dah.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// Elements in the character.
    pub len: u8,
    /// One bit per element, first element highest; 1 is a dah, 0 a dit.
    pub dahs: u8,
}

impl Code {
    /// Element `i` (0 = first) is a dah.
    pub const fn is_dah(self, i: u8) -> bool {
        i < self.len && self.len <= 8 && (self.dahs >> (self.len - 1 - i)) & 1 == 1
    }

    /// Units the character keys for: its marks (1 per dit, 3 per dah) and the one-unit gaps
    /// between them.
    pub const fn units(self) -> u32 {
        let mut units = 0;
        let mut i = 0;
        while i < self.len {
            units += if self.is_dah(i) { 3 } else { 1 };
            i += 1;
        }
        (units + self.len as u32).saturating_sub(1)
    }
}

/// Morse for the hex digits `0` to `F`, in order.
pub const DIGITS: [Code; 16] = [
    Code {
        len: 5,
        dahs: 0b11111,
    }, // 0 -----
    Code {
        len: 5,
        dahs: 0b01111,
    }, // 1 .----
    Code {
        len: 5,
        dahs: 0b00111,
    }, // 2 ..---
    Code {
        len: 5,
        dahs: 0b00011,
    }, // 3 ...--
    Code {
        len: 5,
        dahs: 0b00001,
    }, // 4 ....-
    Code {
        len: 5,
        dahs: 0b00000,
    }, // 5 .....
    Code {
        len: 5,
        dahs: 0b10000,
    }, // 6 -....
    Code {
        len: 5,
        dahs: 0b11000,
    }, // 7 --...
    Code {
        len: 5,
        dahs: 0b11100,
    }, // 8 ---..
    Code {
        len: 5,
        dahs: 0b11110,
    }, // 9 ----.
    Code { len: 2, dahs: 0b01 }, // A .-
    Code {
        len: 4,
        dahs: 0b1000,
    }, // B -...
    Code {
        len: 4,
        dahs: 0b1010,
    }, // C -.-.
    Code {
        len: 3,
        dahs: 0b100,
    }, // D -..
    Code { len: 1, dahs: 0b0 },  // E .
    Code {
        len: 4,
        dahs: 0b0010,
    }, // F ..-.
];

/// The hex digit `code` stands for, if any.
pub fn digit(code: Code) -> Option<u8> {
    DIGITS.iter().position(|&c| c == code).map(|d| d as u8)
}

/// The two characters of `byte`: high nibble, then low.
pub const fn byte_codes(byte: u8) -> [Code; 2] {
    [DIGITS[(byte >> 4) as usize], DIGITS[(byte & 0x0f) as usize]]
}

/// Units in the letter gap between the two characters of a byte.
pub const LETTER_GAP: u32 = 3;
/// Units in the word gap after each byte.
pub const WORD_GAP: u32 = 7;

/// Units `byte` occupies the key for, its word gap included: what the next byte waits for.
pub const fn byte_units(byte: u8) -> u32 {
    let [hi, lo] = byte_codes(byte);
    hi.units() + LETTER_GAP + lo.units() + WORD_GAP
}

/// The most units any byte takes (`0x00`: two five-dah zeros, 48 units).
pub const MAX_BYTE_UNITS: u32 = byte_units(0x00);

/// The character `c` as dits and dahs (`.` and `-`), for showing the link.
pub fn dots(c: Code) -> heapless::String<5> {
    let mut s = heapless::String::new();
    for i in 0..c.len {
        // Five elements at most: always room.
        let _ = s.push(if c.is_dah(i) { '-' } else { '.' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digits_are_international_morse_and_all_different() {
        let chart = [
            "-----", ".----", "..---", "...--", "....-", ".....", "-....", "--...", "---..",
            "----.", ".-", "-...", "-.-.", "-..", ".", "..-.",
        ];
        for (d, want) in chart.iter().enumerate() {
            assert_eq!(dots(DIGITS[d]).as_str(), *want, "digit {d:x}");
            assert_eq!(digit(DIGITS[d]), Some(d as u8));
        }
    }

    #[test]
    fn byte_lengths() {
        assert_eq!(byte_units(0x00), 19 + 3 + 19 + 7);
        assert_eq!(byte_units(0xee), 1 + 3 + 1 + 7);
        assert_eq!(MAX_BYTE_UNITS, (0..=255).map(byte_units).max().unwrap_or(0));
        let average = (0..=255u32).map(|b| byte_units(b as u8)).sum::<u32>() as f64 / 256.0;
        assert!((average - 32.75).abs() < 0.01, "{average}");
    }
}
