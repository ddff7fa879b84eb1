//! The fuzz harness: what each fuzz target in `fuzz/` runs on one input, and the checks
//! (oracles) that make a run fail. It lives here, not in the fuzz crate, so that `cargo
//! test` on stable replays the committed corpus and every regression input through exactly
//! the same code (`tests/tests/it/fuzz_corpus.rs`); the targets are one line each.
//!
//! Every function takes the raw fuzzer input and panics when an oracle fails. Structured
//! inputs are decoded from the bytes with `arbitrary`, the way `fuzz_target!` would, so a
//! corpus file means the same thing to the fuzzer and to the replay.
//!
//! | target | function | what it drives |
//! |---|---|---|
//! | `framing` | [`framing`] | the core's COBS + CRC decoder, in arbitrary chunkings |
//! | `messages` | [`messages`] | varints, `Hello`, the frame parser, packed items |
//! | `endpoint` | [`endpoint`] | one endpoint and a scripted hostile peer |
//! | `pair` | [`pair`] | two live endpoints, an arbitrary list of operations and link faults |
//! | `typed` | [`typed`] | `decode_exact` of the demo and calc types, `wirecall-schema` |
//! | `host` | [`host`] | `serve_link` over a socket pair, fed by an arbitrary peer |
//! | `host_client` | [`host_client`] | the blocking host `Client`'s calls and streams, answered by an arbitrary server peer |

mod endpoint;
mod framing;
mod host;
mod host_client;
mod messages;
mod pair;
mod typed;

pub use endpoint::endpoint;
pub use framing::framing;
pub use host::host;
pub use host_client::host_client;
pub use messages::messages;
pub use pair::pair;
pub use typed::typed;

/// What a target runs on one input.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("framing", framing),
    ("messages", messages),
    ("endpoint", endpoint),
    ("pair", pair),
    ("typed", typed),
    ("host", host),
    ("host_client", host_client),
];
