//! An example guest: serves [`plugin`] and calls the host's [`kv`], written as firmware is
//! (a `UartDriver` loop, the generated `dispatch_request`, a server stream sent as credit
//! allows). Build it with
//! `cargo build --target wasm32-unknown-unknown --release -p wirecall-guest-example`; the
//! runner's tests and benchmark load
//! `target/wasm32-unknown-unknown/release/wirecall_guest_example.wasm`.
//!
//! `remember` and `recall` drop through to the host: they are answered by the main loop
//! (like the firmware's `ask_host`) with a blocking call of `kv` made by
//! [`wirecall_guest::call`]. The hostile procedures (`trap`, `spin`, `flood`, `hog`, `poll_spin`) do what
//! their names say, for the runner's containment tests.

use wirecall::{Config, Dispatched, Event, Open, Procedure, RequestId, ServedStream, WireError};
use wirecall_guest::{sys, Driver};
use wirecall_guest_services::{kv, plugin, Key, Value};

/// A `count` stream being sent.
struct Counting {
    stream: ServedStream<plugin::Count>,
    next: u32,
    n: u32,
}

/// The guest's state: the `count` stream a request just started, for the loop to take.
#[derive(Default)]
struct Plugin {
    accepted: Option<(RequestId, u32)>,
}

impl plugin::Handler for Plugin {
    fn add(&mut self, a: i32, b: i32) -> Result<i32, WireError> {
        a.checked_add(b).ok_or(WireError::BadArguments)
    }
    fn echo(&mut self, data: Value) -> Result<Value, WireError> {
        Ok(data)
    }
    fn count(&mut self, stream: RequestId, n: u32) -> Result<(), WireError> {
        if n > 1000 {
            return Err(WireError::BadArguments);
        }
        self.accepted = Some((stream, n));
        Ok(())
    }
    fn remember(&mut self, _: Key, _: Value) -> Result<Option<Value>, WireError> {
        // Answered by the loop, which can call the host; never through dispatch.
        Err(WireError::Internal)
    }
    fn recall(&mut self, _: Key) -> Result<Option<Value>, WireError> {
        Err(WireError::Internal)
    }
    fn trap(&mut self) -> Result<(), WireError> {
        // A panic is `unreachable` in a wasm32-unknown-unknown module (panic = abort).
        panic!("trap requested")
    }
    fn spin(&mut self) -> Result<(), WireError> {
        let mut i = 0u64;
        loop {
            i = std::hint::black_box(i.wrapping_add(1));
        }
    }
    fn flood(&mut self) -> Result<(), WireError> {
        // Offers bytes forever, whether the host takes them or not, never reading.
        let junk = [0x55u8; 1024];
        loop {
            std::hint::black_box(sys::write(&junk));
        }
    }
    fn poll_spin(&mut self) -> Result<(), WireError> {
        // Asks for input without waiting, again and again: busy, though it calls `read`.
        let mut buf = [0u8; 64];
        loop {
            std::hint::black_box(sys::read(&mut buf, 0));
        }
    }
    fn hog(&mut self) -> Result<(), WireError> {
        let mut held = Vec::new();
        loop {
            held.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
}

/// Answers a `remember` or `recall` by calling the host's `kv`.
fn drop_through(driver: &mut Driver, id: RequestId, kv_call: KvCall) {
    let answer = match kv_call {
        KvCall::Put(key, value) => {
            wirecall_guest::call::<kv::Put, _, _, _, _>(driver, &(key, value), Open::call())
        }
        KvCall::Get(key) => {
            wirecall_guest::call::<kv::Get, _, _, _, _>(driver, &(key,), Open::call())
        }
    };
    let ep = driver.endpoint();
    let _ = match answer {
        Ok(value) => ep.respond(id, wirecall::Postcard(&value)),
        Err(e) => ep.respond_error(id, WireError::Internal, &format!("the host's kv: {e:?}")),
    };
}

/// A call of the host's `kv` that a request asks for (its arguments copied out of the
/// receive buffer, so the driver is free to make the call).
enum KvCall {
    Put(Key, Value),
    Get(Key),
}

/// The request's `kv` call, if it is a `remember` or `recall`; `Err` if its arguments do
/// not decode.
fn kv_call(procedure: u32, args: &[u8]) -> Option<Result<KvCall, WireError>> {
    let bad = |_| WireError::BadArguments;
    if procedure == plugin::Remember::ID {
        Some(
            plugin::Remember::decode_args(args)
                .map(|(k, v)| KvCall::Put(k, v))
                .map_err(bad),
        )
    } else if procedure == plugin::Recall::ID {
        Some(
            plugin::Recall::decode_args(args)
                .map(|(k,)| KvCall::Get(k))
                .map_err(bad),
        )
    } else {
        None
    }
}

/// The guest's loop: runs until the link closes.
pub fn run() {
    let config = Config::default().with_manifest(&plugin::MANIFEST);
    let mut driver = wirecall_guest::driver(config);
    let mut state = Plugin::default();
    let mut counting: Vec<Counting> = Vec::new();
    let mut out = [0u8; plugin::MAX_REPLY_LEN];
    while driver.poll().is_ok() {
        while let Some(event) = driver.endpoint().poll_event() {
            match event {
                Event::Request {
                    id,
                    procedure,
                    args,
                    mode,
                    export,
                } => {
                    match kv_call(procedure, args) {
                        Some(Ok(call)) => drop_through(&mut driver, id, call),
                        Some(Err(e)) => {
                            let _ = driver.endpoint().respond_error(id, e, "");
                        }
                        None => {
                            let answer = plugin::dispatch_request(
                                &mut state, id, mode, procedure, args, export, &mut out,
                            );
                            let ep = driver.endpoint();
                            let _ = match answer {
                                Ok(Dispatched::Reply(n)) => {
                                    ep.respond(id, out.get(..n).unwrap_or(&[]))
                                }
                                Ok(_) => Ok(()),
                                Err(e) => ep.respond_error(id, e, ""),
                            };
                        }
                    }
                    if let Some((stream, n)) = state.accepted.take() {
                        counting.push(Counting {
                            stream: ServedStream::new(stream),
                            next: 0,
                            n,
                        });
                    }
                }
                Event::RequestEnded { id, .. } => counting.retain(|c| c.stream.id() != id),
                _ => {}
            }
        }
        send_counts(&mut driver, &mut counting);
        if wirecall_guest::idle(&mut driver).is_err() {
            return;
        }
    }
}

/// Sends each `count` stream's next items as far as credit and the transmit queue allow,
/// and ends the streams that are done.
fn send_counts(driver: &mut Driver, counting: &mut Vec<Counting>) {
    let ep = driver.endpoint();
    counting.retain_mut(|c| {
        while c.next < c.n && c.stream.credit(ep) > 0 {
            match c.stream.send(ep, &c.next) {
                Ok(()) => c.next += 1,
                Err(wirecall::StreamError::WouldBlock) => return true,
                Err(_) => return false, // the stream ended
            }
        }
        if c.next < c.n {
            return true; // waiting for credit
        }
        // The end; kept and retried while the transmit queue has no room.
        ep.respond(c.stream.id(), &[]) == Err(wirecall::RespondError::WouldBlock)
    });
}

wirecall_guest::export_main!(run);
