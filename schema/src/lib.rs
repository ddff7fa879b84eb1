//! Host-side manifests for wirecall: everything a host tool drives from a device's
//! description of its procedures.
//!
//! A device sends a *manifest*, bytes that describe its service: each procedure's number,
//! name, parameters, result and stream items, and their types, and the interfaces of the
//! objects its handles name, with their methods. From it this crate
//!
//! * parses the bytes into an owned model ([`Manifest::parse`]), and writes a model back
//!   ([`Manifest::to_bytes`]);
//! * encodes JSON to postcard payloads and decodes payloads to JSON ([`encode_args`],
//!   [`encode_value`], [`decode_value`], [`decode_output`], [`decode_item`], ...), so a
//!   tool can call any procedure without its Rust types;
//! * renders signatures and type definitions ([`signature`], [`definition`],
//!   [`named_types`]) and a JSON form of the manifest (`Serialize` on [`Manifest`]);
//! * reads that JSON form, or a shorter declaration, back into a manifest
//!   ([`Manifest::from_json`]), and types from their notation ([`Type::parse`]), so a
//!   server in another language can declare its service at run time (see "Declaring a
//!   service" below).
//!
//! It depends on neither the core nor the adapters: the manifest format and postcard's
//! encoding are the whole contract.
//!
//! ```
//! use serde_json::json;
//! use wirecall_schema::{decode_output, encode_args, signature, Manifest};
//!
//! // What a device serving `add(a: i32, b: i32) -> i32` (procedure 1 of "demo") sends.
//! let bytes = [1, 4, b'd', b'e', b'm', b'o', 1, 1, 3, b'a', b'd', b'd', 0, 2, 1, b'a', 9, 1, b'b', 9, 9];
//! let manifest = Manifest::parse(&bytes)?;
//! let add = manifest.procedure("add").expect("listed");
//! assert_eq!(signature(add), "add(a: i32, b: i32) -> i32");
//! // i32s are zigzag varints: 2 is 4, 40 is 80.
//! assert_eq!(encode_args(add, &json!([2, 40]))?, [4, 80]);
//! assert_eq!(encode_args(add, &json!({"b": 40, "a": 2}))?, [4, 80]);
//! assert_eq!(decode_output(add, &[84])?, json!(42));
//! let error = encode_args(add, &json!({"a": 2})).unwrap_err();
//! assert_eq!(error.to_string(), "add: missing field b");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! * Parsing a manifest and decoding a payload never panic on any input, and their work and
//!   memory are bounded by the input's length (a count is checked against the bytes left
//!   before anything is allocated; types nest at most [`MAX_DEPTH`] levels; payload values
//!   that take no bytes are capped at [`MAX_EMPTY_VALUES`]).
//! * The codec writes exactly what postcard 1.x writes for the Rust type the manifest
//!   describes (the tests compare it with `postcard::to_allocvec`), and reads what postcard
//!   writes.
//! * What is decoded encodes again, to the same bytes for anything postcard wrote, with two
//!   exceptions: `Some(x)` where `x` itself prints as `null` (`Some(None)` of an
//!   `Option<Option<T>>`, `Some(())`) prints as `null`, which reads back as `None`, which
//!   JSON cannot express; and a handle, which decodes to JSON but is never encoded from it.
//!
//! # The manifest bytes
//!
//! Every `varint` is an unsigned LEB128 `u32` (at most 5 bytes); a `str` is a length varint
//! and that many bytes of UTF-8.
//!
//! ```text
//! manifest  = format u8 (1, or 2 with interfaces) · service name: str · count: varint · procedure{count}
//!             · [if format 2: ninterfaces: varint (at least 1) · interface{ninterfaces}]
//! procedure = id: varint · name: str · mode: u8 · nparams: varint · (param name: str · type){nparams}
//!             · output: type · [item: type, if mode is 2 or 3] · [in_item: type, if mode is 1 or 3]
//!   mode: 0 call, 1 client stream (the caller sends items), 2 server stream (the server sends
//!   items), 3 both ways
//! interface = name: str · count: varint · procedure{count}   (its methods, numbered apart)
//! type      = tag u8 · body
//! ```
//!
//! A service without interfaces is described in format 1, so its manifest (and its hash)
//! is what it was before handles existed; [`Manifest::to_bytes`] writes format 2 exactly
//! when [`Manifest::interfaces`] is not empty, and the parser refuses a format 2 that
//! declares none (it could not be written back).
//!
//! | tag | type | body |
//! |---|---|---|
//! | 0 | unit | - |
//! | 1 | bool | - |
//! | 2..=6 | u8, u16, u32, u64, u128 | - |
//! | 7..=11 | i8, i16, i32, i64, i128 | - |
//! | 12, 13 | f32, f64 | - |
//! | 14 | char | - |
//! | 15 | string | max bytes: varint (0 = no bound) |
//! | 16 | option | type |
//! | 17 | seq | max items: varint (0 = no bound) · item type |
//! | 18 | map | max entries: varint (0 = no bound) · key type · value type |
//! | 19 | tuple | n: varint · type{n} |
//! | 20 | array (fixed length, none on the wire) | n: varint · item type |
//! | 21 | struct | name: str · n: varint · (field name: str · type){n} |
//! | 22 | tuple struct | name: str · n: varint · type{n} |
//! | 23 | unit struct | name: str |
//! | 24 | newtype struct | name: str · type |
//! | 25 | enum | name: str · n: varint · (variant name: str · kind u8 · body){n} |
//! | 26 | handle | interface name: str (empty: any interface) |
//!
//! An enum variant's kind is 0 unit (no body), 1 newtype (a type), 2 tuple (n: varint ·
//! type{n}) or 3 struct (n: varint · (field name: str · type){n}). The parser also refuses
//! two procedures with one name or id, and two parameters, fields or variants with one
//! name, two interfaces with one name, two methods of one interface with one name or id,
//! since calling by name and JSON objects could not tell them apart; and a handle of an
//! interface the manifest does not declare.
//!
//! A handle on the wire (in a reply) is two varints, the slot and the generation of the
//! object in the device's export table (postcard's `struct Handle { slot: u32, generation:
//! u32 }`). A method of an interface is called on such a handle (an `Invoke` frame, see the
//! protocol), by its number in the interface.
//!
//! # JSON conventions
//!
//! | type | JSON |
//! |---|---|
//! | unit, unit struct | `null` |
//! | bool | `true`, `false` |
//! | integers | numbers, range-checked exactly (`300` does not fit `u8`; `1.5` is no integer; an integral float such as `3.0` is taken up to 2^53). `u64`, `i64`, `u128`, `i128` also take a decimal string (`"340282366920938463463374607431768211455"`). Decoded values print as numbers when within `i64`/`u64` (serde_json holds those exactly) and as decimal strings beyond |
//! | f32, f64 | numbers, or `"NaN"`, `"inf"`, `"-inf"` (printed so for non-finite values). A finite number beyond `f32`'s range is an error for an `f32`. An `f32` prints as its shortest decimal form |
//! | char | a one-character string |
//! | string | a string, at most its bound in UTF-8 bytes |
//! | option | `null` for None, anything else for Some (so a Some whose value prints as `null`, like `Some(())`, cannot be written) |
//! | seq, array, tuple, tuple struct | an array; exact length for array, tuple and tuple struct |
//! | bytes (seq or array of u8) | also a string: `"0x48656c6c6f"` (hex, pairs of digits in either case), `"base64:SGVsbG8="` (standard alphabet, padding optional), or any other string for its UTF-8. Decoded bytes print as a string when they are UTF-8 without control characters and do not start with `0x` or `base64:`, otherwise as `"0x"` and lowercase hex; either form reads back to the same bytes |
//! | map | an object (keys converted from strings for integer, bool, char and string key types) or an array of `[key, value]` pairs. Object entries go on the wire sorted by key (numeric order for integer keys, byte order for text, `false` before `true`), as a `BTreeMap` writes them, whatever order the object lists them in; a decoded map prints as an object when its key type allows one and its keys are strictly increasing in that order, else as pairs (so decoding then encoding keeps the bytes) |
//! | struct | an object with exactly its fields: a missing or an unknown field is an error |
//! | newtype struct | the inner value |
//! | enum | a unit variant as its name (`"Off"`); any other as a one-key object `{"Blink": {"hz": 2}}`, `{"Level": 3}`, `{"Pair": [1, 2]}` (serde_json's externally tagged form) |
//! | handle | decoded only: `{"handle": "Channel", "slot": 0, "generation": 1}` (the interface's name, empty for any, then the object's slot and generation in the device's table). No JSON encodes to a handle: a handle only comes from the device, and is used by calling its methods (a host runtime's `RemoteHandle`, `wirecall call ... then METHOD`), so giving one as an argument is an error, `expected ... cannot be given in JSON` |
//!
//! A procedure's arguments are a JSON array (by position, one per parameter), an object
//! (by parameter name, exactly the parameters), or `[]`, `{}` or `null` for none. A
//! procedure with **one parameter** also takes its bare value. The bare reading is tried
//! first; if it fails and the JSON is an array or object, the argument reading is tried;
//! if both fail, the error shown is the argument reading's for an object whose one key is
//! the parameter's name, else the bare reading's when the JSON looks like a value of the
//! parameter's type at its top level (its JSON kind, an array's length for a tuple or
//! array, one key for an enum), else the argument reading's. So for
//! `echo(data: Vec<u8, 200>)`, `"hi"`, `[104, 105]`, `[[104, 105]]` and `{"data": "hi"}`
//! all send the same two bytes, `[300]` fails with `echo: 300 does not fit u8 at [0]`, and
//! for `set(mode: Mode)`, `{"mode": "Dim"}` fails with
//! `set: expected one of Off, On, Blink { hz: u8 } at mode, got "Dim"`.
//!
//! Errors ([`CodecError`]) carry the procedure, the path (`b`, `[0]`, `mode.Blink.hz`,
//! `limits[7]`), the message and what was found apart, and print as
//! `proc: message at path, got found`, e.g. `add: expected i32 at b, got "x"`.
//!
//! # Notation
//!
//! Types print Rust-like, with the bounds heapless writes: `u8`, `()`, `String`,
//! `String<32>`, `Option<T>`, `Vec<T>`, `Vec<u8, 200>`, `Map<K, V>`, `Map<K, V, 16>`,
//! `(A, B)`, `[u8; 4]`, `handle Channel` (`handle` for any interface), and named types by
//! name; [`definition`] spells those out
//! (`struct Info { version: u32, name: String<16> }`, `enum Mode { Off, On, Blink { hz: u8 } }`).
//! A [`signature`] writes a caller's stream as a last `stream T` parameter and a server's
//! stream as the result `stream T`: `add(a: i32, b: i32) -> i32`,
//! `count(n: u32) -> stream u32`, `sum(stream u32) -> u64`,
//! `chat(stream String) -> stream String`, `open(name: String<16>) -> handle Channel`; a unit
//! result is left out (`reset()`). An interface's methods have signatures like any
//! procedure's.
//!
//! [`Type::parse`] reads a type back from the notation, for every type without a name
//! (a struct or enum prints as its name only, so it cannot be read back from it; the empty
//! tuple prints as `()`, which reads as the unit type).
//!
//! # Declaring a service
//!
//! A server that is not written in Rust (a JavaScript one, say) declares its service as
//! JSON, and [`Manifest::from_json`] turns the declaration into the model, whose
//! [`Manifest::to_bytes`] are the manifest it sends. The declaration is the JSON form
//! (`serde_json::to_value(&manifest)`), with whatever is derived left out: ids (numbered
//! from 0, around those given), `kind` (from the items given), `output` when it is `()`,
//! `signature`, `format`, `interfaces` when there are none. Parameters and struct fields
//! may be an object of name to type, and any type a string in the notation; structs and
//! enums are objects (`{"type": "struct", "name": "Info", "fields": {"version": "u32"}}`).
//! The full form is in `json_form.rs`. What the byte parser would refuse is refused, with
//! the JSON path of the problem ([`JsonFormError`]).
//!
//! ```
//! use serde_json::json;
//! use wirecall_schema::{signature, Manifest, Type};
//!
//! let manifest = Manifest::from_json(&json!({
//!     "service": "demo",
//!     "procedures": [
//!         {"name": "add", "params": {"a": "i32", "b": "i32"}, "output": "i32"},
//!         {"name": "count", "params": {"n": "u32"}, "kind": "server stream", "item": "u32"},
//!         {"name": "info", "output": {"type": "struct", "name": "Info",
//!                                     "fields": {"version": "u32", "name": "String<16>"}}},
//!         {"name": "open", "params": {"name": "String<16>"}, "output": "handle Channel"},
//!     ],
//!     "interfaces": [{"name": "Channel", "methods": [{"name": "read", "output": "i32"}]}],
//! }))?;
//! let add = manifest.procedure("add").expect("declared");
//! assert_eq!((add.id, signature(add).as_str()), (0, "add(a: i32, b: i32) -> i32"));
//! assert_eq!(signature(&manifest.procedures[1]), "count(n: u32) -> stream u32");
//! // The bytes a device serving it would send, which parse back to the same manifest.
//! let bytes = manifest.to_bytes();
//! assert_eq!(Manifest::parse(&bytes)?, manifest);
//!
//! let error = Manifest::from_json(&json!({
//!     "service": "demo",
//!     "procedures": [{"name": "reset"}, {"name": "add", "params": {"a": "i32", "b": "i33"}}],
//! }))
//! .unwrap_err();
//! assert_eq!(error.to_string(), r#"procedures[1].params.b: unknown type "i33""#);
//! assert_eq!(Type::parse("Vec<u8, 200>")?, Type::seq(200, Type::U8));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod codec;
mod json_form;
mod json_read;
mod leb128;
mod manifest;
mod model;
mod notation;
mod notation_parse;

pub use codec::{
    decode_args, decode_in_item, decode_item, decode_output, decode_value, encode_args,
    encode_in_item, encode_item, encode_output, encode_value, CodecError, MAX_EMPTY_VALUES,
};
pub use json_read::JsonFormError;
pub use manifest::{ManifestError, ManifestErrorKind};
pub use model::{
    Field, Interface, Manifest, Mode, Procedure, Type, Variant, VariantKind, FORMAT,
    FORMAT_INTERFACES, MAX_DEPTH,
};
pub use notation::{definition, named_types, signature};
pub use notation_parse::{NotationError, NotationErrorKind};
