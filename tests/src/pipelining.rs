//! What pipelining saves on a slow line: a chain of three calls on the simulated pair, in
//! virtual time (exact, the same on every run).
//!
//! The chain is the demo service's: `open("chain")` returns a handle to a sensor channel,
//! then `configure(3)` and `read()` are called on it. Waiting, each call leaves when the
//! answer before it has arrived: three round trips. Pipelined, all three leave at once, the
//! two method calls naming "the handle that the open returns"
//! ([`Target::Promise`]): one round trip, plus the time the line takes to carry the
//! frames one after another.

use std::time::Duration;

use wirecall::{CallId, Config, Handle, Instant, Procedure, Target};

use crate::demo::demo;
use crate::engine::Owned;
use crate::pair::{Pair, Serve, Side};

/// The host side: large enough for anything.
type Host = wirecall::Endpoint<1024, 16, 16, 2100>;
/// The device side: the microcontroller defaults (4 export slots).
type Mcu = wirecall::Endpoint<256, 4, 4, 576>;

/// One chain, measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// From the first call leaving the host to the last answer arriving there.
    pub took: Duration,
    /// Wire bytes the host sent for it (8N1: 10 bit times each).
    pub to_device: u64,
    /// Wire bytes the device sent for it.
    pub to_host: u64,
    /// The handle the open returned.
    pub handle: Handle,
    /// What `configure(3)` answered (the previous scale, 1).
    pub previous_scale: i32,
    /// What `read()` answered (the first reading, 1, times the scale, 3).
    pub reading: i32,
}

/// Runs the chain over a pair of `baud` lines with `latency` each way, waiting for each
/// answer or `pipelined`.
pub fn chain(baud: u32, latency: Duration, pipelined: bool) -> Chain {
    let config = Config::default().with_handles();
    let mut p = Pair::with_line(
        Side::new(Host::new(Instant::ZERO, config), Serve::Hold),
        Side::new(Mcu::new(Instant::ZERO, config), Serve::Dispatch),
        baud,
        latency,
        1,
    );
    p.connect();
    // Let the handshake's last bytes clear the lines, so the chain has them to itself.
    p.run_for(Duration::from_millis(100));
    p.a.take_events();
    let (start, sent_before, received_before) = (p.now, p.ab.stats().written, p.ba.stats().written);

    let name: heapless::String<16> = "chain".try_into().expect("a short name");
    let open_args = postcard::to_allocvec(&(name,)).expect("encode");
    let configure_args = postcard::to_allocvec(&(3i32,)).expect("encode");
    let now = p.instant();
    let open =
        p.a.ep
            .call(now, demo::OpenChannel::ID, &open_args, None)
            .expect("open");
    let (handle, previous_scale, reading);
    if pipelined {
        let on = Target::Promise(open.wire());
        let configure = invoke(&mut p, on, demo::Channel::Configure::ID, &configure_args);
        let read = invoke(&mut p, on, demo::Channel::Read::ID, &[]);
        // The read's answer is the last to arrive: the clock stands at its arrival.
        reading = decode::<i32>(&wait(&mut p, read));
        handle = decode::<Handle>(&wait(&mut p, open));
        previous_scale = decode::<i32>(&wait(&mut p, configure));
    } else {
        handle = decode::<Handle>(&wait(&mut p, open));
        let on = Target::Handle(handle);
        let configure = invoke(&mut p, on, demo::Channel::Configure::ID, &configure_args);
        previous_scale = decode::<i32>(&wait(&mut p, configure));
        let read = invoke(&mut p, on, demo::Channel::Read::ID, &[]);
        reading = decode::<i32>(&wait(&mut p, read));
    }
    let took = p.now - start;
    Chain {
        took,
        to_device: p.ab.stats().written - sent_before,
        to_host: p.ba.stats().written - received_before,
        handle,
        previous_scale,
        reading,
    }
}

fn invoke(p: &mut Pair, on: Target, method: u32, args: &[u8]) -> CallId {
    let now = p.instant();
    p.a.ep.invoke(now, on, method, args).expect("invoke")
}

/// Runs until call `id` is answered (at most 10 s of line time); its result, taken out of
/// the log (a later call may reuse the id).
fn wait(p: &mut Pair, id: CallId) -> Vec<u8> {
    let ended = |e: &Owned| matches!(e, Owned::Reply { id: got, .. } | Owned::CallFailed { id: got, .. } if *got == id);
    assert!(
        p.run_until(Duration::from_secs(10), |p| p.a.events.iter().any(ended)),
        "call {id:?} was never answered"
    );
    let at = p.a.events.iter().position(ended).expect("answered");
    match p.a.events.remove(at) {
        Owned::Reply { payload, .. } => payload,
        other => panic!("call {id:?} failed: {other:?}"),
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    wirecall::decode_exact(bytes).expect("a well-formed answer")
}
