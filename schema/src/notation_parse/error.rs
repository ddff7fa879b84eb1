//! Why a type notation did not parse: where in the text, and what was expected there.

use core::fmt;

use crate::model::MAX_DEPTH;

/// A type notation that does not parse: where in the text, and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotationError {
    /// The text that was read.
    pub text: String,
    /// The byte of `text` where the problem starts.
    pub offset: usize,
    /// What is wrong there.
    pub kind: NotationErrorKind,
}

/// What is wrong with a type notation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotationErrorKind {
    /// Something else was found than could come next.
    Expected {
        /// What could come next, e.g. `"a type"` or `` "`,` or `>`" ``.
        expected: &'static str,
        /// What was found: a token as written (shortened if long), or `the end`.
        found: String,
    },
    /// A name that is no type of the notation: a misspelling, or a struct or enum, which
    /// cannot be given by name.
    UnknownType(String),
    /// Types nested deeper than [`MAX_DEPTH`] levels.
    TooDeep,
}

impl fmt::Display for NotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NotationErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}{}, got {found}", self.at())
            }
            NotationErrorKind::UnknownType(name) => {
                write!(f, "unknown type {name:?}")?;
                // Where is noise when the name is all there is.
                if self.text.trim() != name {
                    write!(f, "{}", self.at())?;
                }
                // Rust names structs and enums in upper camel case; for those, say how to
                // give one, since its name alone cannot say what it holds.
                if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    write!(
                        f,
                        " (a struct or enum cannot be named in the notation: describe it as an \
                         object, {{\"type\": \"struct\", \"name\": {name:?}, \"fields\": {{...}}}} \
                         or {{\"type\": \"enum\", \"name\": {name:?}, \"variants\": [...]}})"
                    )?;
                }
                Ok(())
            }
            NotationErrorKind::TooDeep => {
                write!(
                    f,
                    "types nested deeper than {MAX_DEPTH} levels{}",
                    self.at()
                )
            }
        }
    }
}

impl NotationError {
    /// ` at 4 in "Vec<>"`; a long text is cut to the part around the offset, since the text
    /// may be anything a caller sent.
    fn at(&self) -> String {
        const AROUND: usize = 24;
        let text = &self.text;
        if text.len() <= 2 * AROUND {
            return format!(" at {} in {text:?}", self.offset);
        }
        let mut start = self.offset.saturating_sub(AROUND);
        while !text.is_char_boundary(start) {
            start -= 1; // 0 is a boundary, so this stops
        }
        let mut end = self.offset.saturating_add(AROUND).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1; // text.len() is a boundary, so this stops
        }
        let part = text.get(start..end).unwrap_or_default();
        let before = if start > 0 { "..." } else { "" };
        let after = if end < text.len() { "..." } else { "" };
        format!(" at {} in {before}{part:?}{after}", self.offset)
    }
}

impl std::error::Error for NotationError {}
