//! wirecall: typed remote procedure calls over any byte stream.
//!
//! This crate is the protocol engine: a `no_std`, allocation-free, sans-I/O state machine,
//! [`Endpoint`], that runs unchanged in microcontroller firmware and on hosts. It performs no
//! I/O, reads no clock, never allocates, never panics on any input and does bounded work per
//! call. Bytes and time go in as arguments; bytes, events and deadlines come out.
//!
//! What it gives you: COBS framing with a CRC-32C on every frame that resynchronises after
//! noise; many calls in flight in both directions, matched by id, answered in any order; a
//! handshake that agrees on version, limits and schema; deadlines, cancellation and
//! keepalive; streams with credit flow control and calls nested in calls (callbacks);
//! explicit wire errors instead of silent drops; hard bounds on everything a hostile peer can
//! make it do. The wire format is specified in `docs/PROTOCOL.md`.
//!
//! # Driving an endpoint
//!
//! Every program that uses wirecall runs this loop, whatever its link. The rule of one
//! mutation: after each input or command, drain events, then bytes to send, then ask for the
//! next deadline.
//!
//! ```
//! use wirecall::{Config, Endpoint, Event, Instant, Procedure, WireError};
//!
//! wirecall::service! {
//!     /// The service of this example.
//!     pub mod demo {
//!         /// Adds two numbers.
//!         0 => Add: fn add(a: i32, b: i32) -> i32;
//!     }
//! }
//!
//! struct Device;
//! impl demo::Handler for Device {
//!     fn add(&mut self, a: i32, b: i32) -> Result<i32, WireError> {
//!         a.checked_add(b).ok_or(WireError::BadArguments)
//!     }
//! }
//!
//! /// Moves everything `from` has to send into `to`, and serves requests on the way.
//! fn pump(now: Instant, from: &mut Endpoint, to: &mut Endpoint, device: &mut Device) -> Option<i32> {
//!     let mut result = None;
//!     let mut wire = [0u8; 64];
//!     loop {
//!         let n = from.poll_transmit(&mut wire);
//!         if n == 0 { break; }
//!         let mut bytes = &wire[..n];
//!         while !bytes.is_empty() {
//!             let used = to.handle_input(now, bytes); // 1. input
//!             bytes = &bytes[used..];
//!             while let Some(event) = to.poll_event() { // 2. events
//!                 match event {
//!                     Event::Request { id, procedure, args, .. } => {
//!                         let mut out = [0u8; 64];
//!                         match demo::dispatch(device, procedure, args, &mut out) {
//!                             Ok(n) => to.respond(id, &out[..n]).unwrap(),
//!                             Err(e) => to.respond_error(id, e, "").unwrap(),
//!                         }
//!                     }
//!                     Event::Reply { payload, .. } => result = demo::Add::output(payload).ok(),
//!                     _ => {}
//!                 }
//!             }
//!             // 3. bytes to send: here the next pump() call moves `to`'s output back.
//!         }
//!     }
//!     result
//! }
//!
//! let now = Instant::ZERO;
//! let config = Config::default().with_manifest(&demo::MANIFEST);
//! let mut host = Endpoint::<256, 4, 4, 576>::new(now, Config::default().expecting_schema(demo::SCHEMA_HASH));
//! let mut device = Endpoint::<256, 4, 4, 576>::new(now, config);
//! let mut handler = Device;
//!
//! // Handshake: each side's Hello reaches the other.
//! pump(now, &mut host, &mut device, &mut handler);
//! pump(now, &mut device, &mut host, &mut handler);
//! assert!(host.is_connected() && device.is_connected());
//!
//! let call = host.call(now, demo::Add::ID, demo::Add::args(&(40, 2))).unwrap();
//! pump(now, &mut host, &mut device, &mut handler);
//! assert_eq!(pump(now, &mut device, &mut host, &mut handler), Some(42));
//! # let _ = call;
//! // 4. time: sleep until host.poll_timeout(), then call handle_timeout(now).
//! assert!(host.poll_timeout().is_some());
//! ```
//!
//! # Memory
//!
//! An endpoint owns every byte it uses; [`Endpoint::WORST_CASE_RAM`] is its size. At the
//! microcontroller defaults (`Endpoint<256, 4, 4, 576>`: 256-byte frames, 4 calls each way,
//! a 576-byte transmit queue, 4 export slots) that is 2,064 bytes on 32-bit targets such
//! as Cortex-M (checked at compile time by every 32-bit build) and 2,112 bytes on 64-bit
//! hosts (checked by a test). 1,088 of them are the three buffers: receive (`FRAME`), frame
//! assembly (`FRAME`) and transmit (`TX`); the rest is the call tables (each slot with its
//! stream state: credit both ways, sequence numbers, idle time), the export table of remote
//! handles (12 bytes a slot), timers, settings and [`Stats`].
//! Streams add no buffer: an item is an event like a request, taken from the receive buffer,
//! and the peer may send no more than the stream window before the application consumes.
//! The worst case is the same whatever the peer sends, streams or not.
//!
//! # Streams and callbacks
//!
//! A stream is a call that carries items before its end, opened with [`Endpoint::open`] and
//! [`Open::stream`]: a server stream (one request, many items, then the reply), a client
//! stream (many items, one reply) or both ways; declare them in [`service!`] with
//! `-> stream T` and `stream U` parameters. Items arrive as [`Event::Item`]; the receiver
//! tells the endpoint what it consumed ([`Endpoint::consume`]), which grants the sender
//! credit for as many more, so a sender never has more than the receiver's
//! [`Config::stream_window`] unconsumed items out. Send with [`Endpoint::send_item`]
//! (`NoCredit` until [`Event::Credit`]), or several small items in one frame with
//! [`Endpoint::send_items`]; end a caller's items with [`Endpoint::end_items`];
//! a server ends the stream with `respond`. Every item arrives in order or the stream ends
//! with an error ([`CallFailure::ItemLost`]): never a gap. [`CallerStream`] and
//! [`ServedStream`] are typed handles over the same calls.
//!
//! A call made while serving a request ([`Open::nested_in`]) is one level deeper: the way a
//! server calls back into its caller. Each side refuses calls nested deeper than its
//! [`Config::max_call_depth`].
//!
//! # Errors, in three tiers
//!
//! * Misuse and local capacity: the `Result` of a command ([`CallError`], [`RespondError`],
//!   [`CancelError`], [`StreamError`]).
//! * Faults of the peer or the link: counters in [`Stats`] and events; never an `Err` out of
//!   `handle_*`.
//! * What the peer must see: [`WireError`], stable numbers on the wire.
//!
//! # Features
//!
//! `defmt` adds `defmt::Format` to the public types. No feature changes behaviour.

#![no_std]
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

// The documented figure for microcontrollers, enforced wherever the crate is built for one.
#[cfg(target_pointer_width = "32")]
const _: () = assert!(Endpoint::<256, 4, 4, 576>::WORST_CASE_RAM <= 2064);

mod bytes;
mod calls;
mod config;
mod endpoint;
mod error;
mod event;
mod framing;
mod handle;
mod interface;
mod manifest;
mod max_len;
mod payload;
mod ring;
mod schema;
mod service;
mod stats;
mod stream;
mod time;
mod typed;
mod typed_host;
mod typed_stream;
#[deny(clippy::arithmetic_side_effects)]
mod varint;
#[deny(clippy::arithmetic_side_effects)]
mod wire;

// Internals for the fuzz targets; not API (see the module's docs).
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

pub use config::{Budget, Config};
pub use endpoint::Endpoint;
pub use error::{CallError, CancelError, RespondError, StreamError};
pub use event::{CallFailure, CallId, Disconnect, Event, PeerInfo, RequestEnd, RequestId};
pub use framing::max_encoded_len;
pub use handle::{Handle, HandleError, Resolved, Target};
#[doc(hidden)]
pub use interface::__interface_index;
#[doc(hidden)]
pub use manifest::check_unique as __check_unique;
pub use manifest::{
    manifest, manifest_hash, manifest_len, InterfaceSchema, ProcedureSchema, ServiceSchema,
    MANIFEST_FORMAT, MANIFEST_FORMAT_INTERFACES,
};
#[doc(hidden)]
pub use max_len::__or_unbounded;
pub use max_len::max_encoded_len_of;
pub use payload::{Payload, PayloadError, Postcard};
#[doc(hidden)]
pub use schema::__alloc_or_hint;
pub use schema::{Field, Schema, Type, Variant, VariantShape};
pub use stats::Stats;
pub use stream::{Open, StreamId, StreamMode};
pub use time::{Duration, Instant};
#[doc(hidden)]
pub use typed::__encode_result;
pub use typed::{
    decode_borrowed, decode_exact, schema_hash, DecodeError, Dispatched, Procedure, ProcedureInfo,
    StreamProcedure,
};
pub use typed_host::{
    Answer, AsyncCaller, AsyncRemoteObject, Caller, Dispatch, DispatchError, RemoteObject, Served,
    StreamIo, StreamItems,
};
pub use typed_stream::{CallerStream, ServedStream};
pub use wire::{Hello, WireError, MIN_MAX_FRAME, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
/// `#[derive(Schema)]`: describes a struct or enum for the manifest (feature `derive`).
#[cfg(feature = "derive")]
pub use wirecall_derive::Schema;
