//! The typed layer: procedures with Rust types, declared once with [`service!`](crate::service).
//!
//! The engine moves encoded bytes only (one copy of the state machine in flash, whatever the
//! number of procedures). This layer adds types at the edges: a [`Procedure`] knows its wire
//! number and its argument and result types, encodes arguments with postcard and decodes
//! results; the service macro generates a handler trait and a `dispatch` function that
//! decodes arguments, calls the handler and encodes its result.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::payload::Postcard;

/// A procedure of a service: its wire number, name and types.
pub trait Procedure {
    /// The procedure number on the wire (a varint: one byte below 128).
    const ID: u32;
    /// Its name, for tools that call procedures by name.
    const NAME: &'static str;
    /// The arguments, a tuple of the declared parameters.
    type Args: Serialize + DeserializeOwned;
    /// The result.
    type Output: Serialize + DeserializeOwned;

    /// Wraps `args` for [`Endpoint::call`](crate::Endpoint::call).
    fn args(args: &Self::Args) -> Postcard<'_, Self::Args> {
        Postcard(args)
    }

    /// Decodes the payload of an [`Event::Reply`](crate::Event::Reply) to this procedure.
    fn output(payload: &[u8]) -> Result<Self::Output, DecodeError> {
        decode_exact(payload)
    }
}

/// Bytes that do not decode as the expected type (or have bytes left over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecodeError;

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("payload does not decode as the expected type")
    }
}

/// Decodes `bytes` as a `T`, requiring that every byte is used.
pub fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(DecodeError),
    }
}

/// Names and signature text of one procedure, for discovery and command-line tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcedureInfo {
    /// The wire number.
    pub id: u32,
    /// The name.
    pub name: &'static str,
    /// The parameters as declared, e.g. `a: i32, b: i32`.
    pub params: &'static str,
    /// The result type as declared.
    pub output: &'static str,
}

/// The schema hash of a service description: CRC-32C of its text, never 0 (0 means "no
/// schema" in a `Hello`).
pub const fn schema_hash(schema: &str) -> u32 {
    match crate::framing::crc32c_const(schema.as_bytes()) {
        0 => 1,
        h => h,
    }
}

/// Declares a service: procedure numbers, names and types, once, for both sides.
///
/// ```
/// wirecall::service! {
///     /// A small calculator.
///     pub mod calc {
///         /// Adds two numbers.
///         0 => Add: fn add(a: i32, b: i32) -> i32;
///         /// Says how many bytes it got.
///         1 => Count: fn count(data: heapless::Vec<u8, 32>) -> u32;
///     }
/// }
///
/// struct Calc;
/// impl calc::Handler for Calc {
///     fn add(&mut self, a: i32, b: i32) -> Result<i32, wirecall::WireError> {
///         a.checked_add(b).ok_or(wirecall::WireError::BadArguments)
///     }
///     fn count(&mut self, data: heapless::Vec<u8, 32>) -> Result<u32, wirecall::WireError> {
///         Ok(data.len() as u32)
///     }
/// }
///
/// use wirecall::Procedure;
/// assert_eq!(calc::Add::ID, 0);
/// assert_eq!(calc::PROCEDURES[1].name, "count");
/// let mut out = [0u8; 16];
/// let n = calc::dispatch(&mut Calc, calc::Add::ID, &[2, 4], &mut out).unwrap(); // add(1, 2)
/// assert_eq!(calc::Add::output(&out[..n]), Ok(3));
/// assert_eq!(calc::dispatch(&mut Calc, 9, &[], &mut out), Err(wirecall::WireError::UnknownProcedure));
/// ```
///
/// The generated module holds one marker type per procedure implementing [`Procedure`], a
/// `Handler` trait with one method per procedure, `dispatch` (decode the arguments, call the
/// handler, encode the result into `out`; errors are the [`WireError`](crate::WireError) to
/// answer with), `PROCEDURES`, and `SCHEMA`/`SCHEMA_HASH`, the declaration text and its hash
/// that the handshake compares. The hash covers the text as written, so both sides must use
/// the same declaration (share the crate that holds it).
#[macro_export]
macro_rules! service {
    (
        $(#[$meta:meta])*
        $vis:vis mod $service:ident {
            $(
                $(#[$pmeta:meta])*
                $id:literal => $Marker:ident : fn $method:ident ( $($arg:ident : $argty:ty),* $(,)? ) -> $out:ty ;
            )*
        }
    ) => {
        $(#[$meta])*
        $vis mod $service {
            #[allow(unused_imports)]
            use super::*;

            $(
                $(#[$pmeta])*
                #[derive(Clone, Copy, Debug)]
                pub struct $Marker;

                impl $crate::Procedure for $Marker {
                    const ID: u32 = $id;
                    const NAME: &'static str = stringify!($method);
                    type Args = ($($argty,)*);
                    type Output = $out;
                }
            )*

            /// The server side: one method per procedure. An `Err` is sent to the caller.
            pub trait Handler {
                $(
                    $(#[$pmeta])*
                    fn $method(&mut self, $($arg: $argty),*) -> ::core::result::Result<$out, $crate::WireError>;
                )*
            }

            /// The service declaration as text; its hash is [`SCHEMA_HASH`].
            pub const SCHEMA: &str = concat!(
                stringify!($service), "{",
                $( stringify!($id), ":", stringify!($method), "(", $(stringify!($arg), ":", stringify!($argty), ",",)* ")->", stringify!($out), ";", )*
                "}"
            );

            /// Hash of [`SCHEMA`], for `Config::with_schema` and `expecting_schema`.
            pub const SCHEMA_HASH: u32 = $crate::schema_hash(SCHEMA);

            /// Every procedure of the service.
            pub const PROCEDURES: &[$crate::ProcedureInfo] = &[
                $( $crate::ProcedureInfo {
                    id: $id,
                    name: stringify!($method),
                    params: stringify!($($arg: $argty),*),
                    output: stringify!($out),
                }, )*
            ];

            /// Decodes `args` for `procedure`, calls `handler`, and encodes the result into
            /// `out`, returning its length.
            pub fn dispatch<H: Handler + ?Sized>(
                handler: &mut H,
                procedure: u32,
                args: &[u8],
                out: &mut [u8],
            ) -> ::core::result::Result<usize, $crate::WireError> {
                #[allow(unused_parens)]
                match procedure {
                    $(
                        $id => {
                            let ($($arg,)*) = $crate::decode_exact::<($($argty,)*)>(args)
                                .map_err(|_| $crate::WireError::BadArguments)?;
                            let result = handler.$method($($arg),*)?;
                            $crate::__encode_result(&result, out)
                        }
                    )*
                    _ => Err($crate::WireError::UnknownProcedure),
                }
            }
        }
    };
}

/// Used by [`service!`]: encodes a handler's result, mapping failures to wire errors.
#[doc(hidden)]
pub fn __encode_result<T: Serialize>(value: &T, out: &mut [u8]) -> Result<usize, crate::WireError> {
    use crate::payload::{Payload, PayloadError};
    Postcard(value).write_to(out).map_err(|e| match e {
        PayloadError::TooLarge => crate::WireError::TooLarge,
        PayloadError::Encode => crate::WireError::Internal,
    })
}
