//! Errors thrown to JavaScript: `Error` objects with a `code` naming what happened, so the
//! package can tell a refusal to wait on (`TooManyCalls`, `NoCredit`, `WouldBlock`) from a
//! mistake.

use js_sys::{Error, Reflect};
use wasm_bindgen::JsValue;

/// An `Error` with `message` and `code`.
pub(crate) fn coded(code: &str, message: &str) -> JsValue {
    let e = Error::new(message);
    // Setting a property of a fresh Error cannot fail.
    let _ = Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

/// A refused command: its error's variant name is the code, its text the message.
pub(crate) fn command_error<E: core::fmt::Debug + core::fmt::Display>(e: &E) -> JsValue {
    coded(&format!("{e:?}"), &e.to_string())
}

/// A mistake in how the engine was called (a bad option, an unknown mode).
pub(crate) fn usage(message: &str) -> JsValue {
    coded("Usage", message)
}
