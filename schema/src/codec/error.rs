//! The codec's error, and the path to the value it is about.

use core::fmt;

use serde_json::Value;

/// A value that does not encode or decode as its type.
///
/// It carries the procedure (when a procedure-level function was called), the path to the
/// offending value, the message, and what was found instead, apart, so a tool can print
/// them its own way and tests can match them. `Display` joins them as
/// `proc: message at path, got found`, leaving out what is absent: e.g.
/// `add: missing field b`, `echo: 300 does not fit u8 at [0]`,
/// `set: expected one of Off, On at mode, got "Dim"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    procedure: Option<String>,
    path: String,
    message: String,
    got: Option<String>,
}

impl CodecError {
    pub(crate) fn new(path: &Path, message: impl Into<String>, got: Option<String>) -> Self {
        CodecError {
            procedure: None,
            path: path.0.clone(),
            message: message.into(),
            got,
        }
    }

    pub(crate) fn in_procedure(mut self, name: &str) -> Self {
        self.procedure = Some(name.to_owned());
        self
    }

    /// The procedure whose arguments, output or items these were, if known.
    pub fn procedure(&self) -> Option<&str> {
        self.procedure.as_deref()
    }

    /// Where the value is, from the top of the arguments or value: `b`, `[0]`,
    /// `mode.Blink.hz`, `limits[7]`; empty at the top.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, e.g. `missing field b`, `300 does not fit u8`, `expected i32`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What was found instead, when the message says what was expected: a JSON value
    /// (`"x"`, `1.5`, shortened if long) or, when decoding, what the bytes held and where.
    pub fn got(&self) -> Option<&str> {
        self.got.as_deref()
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(procedure) = &self.procedure {
            write!(f, "{procedure}: ")?;
        }
        f.write_str(&self.message)?;
        if !self.path.is_empty() {
            write!(f, " at {}", self.path)?;
        }
        if let Some(got) = &self.got {
            write!(f, ", got {got}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CodecError {}

/// The path to the value being encoded or decoded, as text, grown and shrunk as the codec
/// walks in and out (text because it is only ever read to build an error).
#[derive(Debug, Default)]
pub(crate) struct Path(String);

/// Where a path was before a step in, to go back to.
pub(crate) struct Mark(usize);

impl Path {
    /// Steps into the field or parameter `name`.
    pub(crate) fn field(&mut self, name: &str) -> Mark {
        let mark = Mark(self.0.len());
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(name);
        mark
    }

    /// Steps into the item at `index`.
    pub(crate) fn index(&mut self, index: usize) -> Mark {
        let mark = Mark(self.0.len());
        self.0.push_str(&format!("[{index}]"));
        mark
    }

    /// Steps into the map entry with key `key` (as the JSON object wrote it).
    pub(crate) fn key(&mut self, key: &str) -> Mark {
        let mark = Mark(self.0.len());
        self.0.push('[');
        self.0.push_str(key);
        self.0.push(']');
        mark
    }

    /// Steps back out to where `mark` was taken.
    pub(crate) fn leave(&mut self, mark: Mark) {
        self.0.truncate(mark.0);
    }
}

/// How a JSON value shows in an error: compact, and cut after 60 characters.
pub(crate) fn got_json(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
        None => text,
    }
}
