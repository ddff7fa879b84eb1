//! One device endpoint driven by hand-built bytes, and everything it said: the harness of
//! the hostile-peer and limit tests.

use wirecall::{Duration, Instant};
use wirecall_tests::engine::{Engine, Owned};
use wirecall_tests::raw;

use crate::common::{device_config, Mcu};

/// One device endpoint and everything it said.
pub struct Victim<E: Engine = Mcu> {
    pub ep: E,
    pub now: Instant,
    pub events: Vec<Owned>,
    pub wire: Vec<u8>,
}

impl Victim {
    /// A device that has not heard from its peer yet.
    pub fn fresh() -> Victim {
        Victim::with(Mcu::new(Instant::ZERO, device_config()))
    }

    /// A device that completed the handshake with a raw peer.
    pub fn connected() -> Victim {
        let mut v = Victim::fresh();
        v.handshake(&raw::hello(false, 1, 1, 1024, 64, 64, 1000, 0));
        v
    }
}

impl<E: Engine> Victim<E> {
    /// Drives `ep`, which has not heard from its peer yet.
    pub fn with(ep: E) -> Victim<E> {
        Victim {
            ep,
            now: Instant::ZERO,
            events: vec![],
            wire: vec![],
        }
    }

    /// Completes the handshake with the peer's `hello` (a body) and forgets the greetings.
    pub fn handshake(&mut self, hello: &[u8]) {
        self.feed(&raw::frame(hello));
        assert!(self.ep.is_connected());
        self.events.clear();
        self.frames();
    }

    pub fn drain_tx(&mut self) {
        let mut buf = [0u8; 97];
        loop {
            let n = Engine::poll_transmit(&mut self.ep, &mut buf);
            if n == 0 {
                break;
            }
            self.wire.extend_from_slice(&buf[..n]);
        }
    }

    pub fn drain_events(&mut self) {
        while let Some(e) = Engine::poll_event(&mut self.ep) {
            self.events.push(e);
        }
    }

    /// Feeds everything, draining events and transmit as a driver would.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.ep.handle_input(self.now, bytes);
            bytes = &bytes[n..];
            self.drain_events();
            self.drain_tx();
        }
    }

    /// Feeds without draining transmit; returns how much was taken.
    pub fn feed_until_stall(&mut self, mut bytes: &[u8]) -> usize {
        let mut taken = 0;
        loop {
            let n = self.ep.handle_input(self.now, bytes);
            taken += n;
            bytes = &bytes[n..];
            let before = self.events.len();
            self.drain_events();
            if n == 0 && self.events.len() == before {
                return taken;
            }
        }
    }

    /// Decoded bodies of everything sent since the last call.
    pub fn frames(&mut self) -> Vec<Vec<u8>> {
        self.drain_tx();
        raw::unframe(&std::mem::take(&mut self.wire))
            .into_iter()
            .map(|f| f.expect("the endpoint sent a broken frame"))
            .collect()
    }

    pub fn advance(&mut self, ms: u64) {
        self.now = self.now + Duration::from_millis(ms);
        self.ep.handle_timeout(self.now);
        self.drain_events();
    }
}
