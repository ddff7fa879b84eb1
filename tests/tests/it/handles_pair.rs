//! Remote handles between two core endpoints on the simulated 115200-baud pair: the device
//! side serves the demo service's sensor channels (exported, called, released, revoked),
//! and a chain of three calls pipelined beats the same chain waiting for each answer.

use std::time::Duration;

use wirecall::{CallFailure, CallId, Config, Handle, Instant, Procedure, Target, WireError};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::{Engine, Owned};
use wirecall_tests::pair::{Pair, Serve, Side};
use wirecall_tests::pipelining::chain;

use crate::common::{enc, Host, Mcu};

/// A host (A, only calling) and a device (B) serving channels, both speaking handles.
fn pair() -> Pair {
    let mut p = Pair::new(
        Side::new(
            Host::new(Instant::ZERO, Config::default().with_handles()),
            Serve::Hold,
        ),
        Side::new(
            Mcu::new(
                Instant::ZERO,
                Config::default()
                    .with_manifest(&demo::MANIFEST)
                    .with_handles(),
            ),
            Serve::Dispatch,
        ),
    );
    p.connect();
    p.a.take_events();
    p.b.take_events();
    p
}

/// Runs until call `id` ends; its outcome, taken out of the log (a later call may reuse
/// the id).
fn outcome(p: &mut Pair, id: CallId) -> Result<Vec<u8>, CallFailure> {
    let ended = |e: &Owned| matches!(e, Owned::Reply { id: got, .. } | Owned::CallFailed { id: got, .. } if *got == id);
    assert!(p.run_until(Duration::from_secs(10), |p| p.a.events.iter().any(ended)));
    let at = p.a.events.iter().position(ended).unwrap();
    match p.a.events.remove(at) {
        Owned::Reply { payload, .. } => Ok(payload),
        Owned::CallFailed { reason, .. } => Err(reason),
        _ => unreachable!("matched above"),
    }
}

fn open(p: &mut Pair, name: &str) -> Result<Handle, CallFailure> {
    let name: heapless::String<16> = name.try_into().unwrap();
    let now = p.instant();
    let id =
        p.a.ep
            .call(now, demo::OpenChannel::ID, &enc(&(name,)), None);
    outcome(p, id.unwrap()).map(|bytes| wirecall::decode_exact(&bytes).unwrap())
}

fn invoke(p: &mut Pair, on: Target, method: u32, args: &[u8]) -> Result<i32, CallFailure> {
    let now = p.instant();
    let id = p.a.ep.invoke(now, on, method, args).unwrap();
    outcome(p, id).map(|bytes| wirecall::decode_exact(&bytes).unwrap())
}

fn read(p: &mut Pair, h: Handle) -> Result<i32, CallFailure> {
    invoke(p, Target::Handle(h), demo::Channel::Read::ID, &[])
}

#[test]
fn the_pair_serves_channels_as_handles_and_frees_them_on_release() {
    let mut p = pair();
    let a = open(&mut p, "a").unwrap();
    assert_eq!(read(&mut p, a), Ok(1));
    let configure = demo::Channel::Configure::ID;
    assert_eq!(
        invoke(&mut p, Target::Handle(a), configure, &enc(&(5i32,))),
        Ok(1)
    );
    assert_eq!(read(&mut p, a), Ok(10));
    // The table holds four; a fifth open is refused, explicitly.
    let more: Vec<Handle> = ["b", "c", "d"]
        .iter()
        .map(|n| open(&mut p, n).unwrap())
        .collect();
    assert_eq!(
        open(&mut p, "e"),
        Err(CallFailure::Remote(WireError::TooManyHandles))
    );
    // A release frees the slot on the device (its channel is dropped) ...
    p.a.ep.release(a).unwrap();
    assert!(p.run_until(Duration::from_secs(1), |p| p
        .b
        .events
        .iter()
        .any(|e| matches!(e, Owned::Released { handle, .. } if *handle == a))));
    assert!(p.b.device.channels[a.slot()].is_none());
    // ... for a new channel at a new generation; the released handle is stale and never
    // reaches the new channel in its slot.
    let e = open(&mut p, "e").unwrap();
    assert_eq!(e.slot(), a.slot());
    assert_ne!(e.generation(), a.generation(), "{a:?} then {e:?}, {more:?}");
    assert_eq!(
        read(&mut p, a),
        Err(CallFailure::Remote(WireError::StaleHandle))
    );
    assert_eq!(read(&mut p, e), Ok(1), "a fresh channel, untouched");
    // The device withdraws one: the holder is told without calling it.
    p.b.ep.revoke(more[0], WireError::Revoked, "gone").unwrap();
    p.b.device.channels[more[0].slot()] = None;
    assert!(
        p.run_until(Duration::from_secs(1), |p| p.a.events.iter().any(
            |ev| matches!(ev, Owned::Revoked { handle, code: WireError::Revoked, reason }
            if *handle == more[0] && reason == b"gone")
        ))
    );
    assert_eq!(
        read(&mut p, more[0]),
        Err(CallFailure::Remote(WireError::StaleHandle))
    );
    // The session ends: every live export is freed and reported.
    p.a.ep.close();
    p.run_for(Duration::from_secs(1));
    let released =
        p.b.events
            .iter()
            .filter(|e| matches!(e, Owned::Released { .. }))
            .count();
    assert_eq!(
        released,
        1 + 3,
        "a when released, then c, d and e at the end (b was revoked: no event)"
    );
    assert_eq!(p.b.ep.exports_live(), 0);
    assert!(p.b.device.channels.iter().all(Option::is_none));
}

#[test]
fn calls_pipelined_on_a_failed_open_are_stale() {
    let mut p = pair();
    let now = p.instant();
    // An argument the open cannot decode: it fails, so "the handle it returns" is none.
    let open =
        p.a.ep
            .call(now, demo::OpenChannel::ID, &[0xff, 0xff], None)
            .unwrap();
    let read =
        p.a.ep
            .invoke(
                now,
                Target::Promise(open.wire()),
                demo::Channel::Read::ID,
                &[],
            )
            .unwrap();
    assert_eq!(
        outcome(&mut p, open),
        Err(CallFailure::Remote(WireError::BadArguments))
    );
    assert_eq!(
        outcome(&mut p, read),
        Err(CallFailure::Remote(WireError::StaleHandle))
    );
}

#[test]
fn a_pipelined_chain_of_three_calls_beats_waiting_for_each_answer() {
    for latency_us in [100, 2_000, 16_000] {
        let latency = Duration::from_micros(latency_us);
        let waiting = chain(115_200, latency, false);
        let pipelined = chain(115_200, latency, true);
        // The same answers: the scale was 1, then the first reading times 3.
        for c in [waiting, pipelined] {
            assert_eq!((c.previous_scale, c.reading), (1, 3), "{c:?}");
        }
        assert_eq!(waiting.handle, pipelined.handle);
        // The same bytes: a promise is as long on the wire as the handle it stands for.
        assert_eq!(
            waiting.to_device + waiting.to_host,
            pipelined.to_device + pipelined.to_host
        );
        // Two round trips fewer: at least twice the latency both ways.
        let saved = waiting.took - pipelined.took;
        assert!(
            saved >= 4 * latency,
            "{latency:?}: waiting {waiting:?}, pipelined {pipelined:?}"
        );
    }
}

/// A release and an open that arrive together (in one read, as a device's driver feeds
/// what its UART queue holds): the release frees a slot of a full table, and the core
/// holds the open until the application was told, so the open gets that slot.
#[test]
fn an_open_right_after_a_release_gets_the_freed_slot() {
    let config = Config::default().with_handles();
    let mut host = Host::new(Instant::ZERO, config);
    let mut device = Mcu::new(Instant::ZERO, config);
    let now = Instant::ZERO;
    let mut wire = [0u8; 2048];
    // Moves everything one side has to send to the other in one input, and returns the
    // receiver's events.
    fn shuttle(from: &mut dyn Engine, to: &mut dyn Engine, wire: &mut [u8]) -> Vec<Owned> {
        let mut bytes = Vec::new();
        loop {
            let n = from.poll_transmit(wire);
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&wire[..n]);
        }
        let mut events = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let used = to.handle_input(Instant::ZERO, rest);
            rest = &rest[used..];
            while let Some(e) = to.poll_event() {
                events.push(e);
            }
        }
        events
    }
    for _ in 0..3 {
        shuttle(&mut host, &mut device, &mut wire);
        shuttle(&mut device, &mut host, &mut wire);
    }
    assert!(host.is_connected() && device.is_connected());
    let mut handles = Vec::new();
    for _ in 0..4 {
        Engine::call(&mut host, now, 6, &[1, b'x'], None).unwrap();
        for e in shuttle(&mut host, &mut device, &mut wire) {
            if let Owned::Request { id, .. } = e {
                handles.push(Engine::respond_export(&mut device, id, 0).unwrap());
            }
        }
        shuttle(&mut device, &mut host, &mut wire);
    }
    Engine::release(&mut host, handles[0]).unwrap();
    Engine::call(&mut host, now, 6, &[1, b'y'], None).unwrap();
    let n = host.poll_transmit(&mut wire);
    assert_eq!(
        host.poll_transmit(&mut wire[n..]),
        0,
        "both frames in one read"
    );
    let mut events = Vec::new();
    let mut rest = &wire[..n];
    while !rest.is_empty() {
        let used = device.handle_input(now, rest);
        rest = &rest[used..];
        while let Some(e) = Engine::poll_event(&mut device) {
            // The handle an export would get, as the request's event announces it.
            let export = device.next_export();
            events.push((e, export));
        }
    }
    match &events[..] {
        [(Owned::Released { handle, .. }, _), (Owned::Request { .. }, Some(export))] => {
            assert_eq!(*handle, handles[0]);
            assert_eq!(export.slot(), handles[0].slot(), "the freed slot");
        }
        other => panic!("{other:?}"),
    }
}
