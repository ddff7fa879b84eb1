//! [`Engine`]: one wirecall endpoint for JavaScript, sans-I/O as in Rust.
//!
//! JavaScript feeds it bytes and time and drains what it gives back, in the order the
//! core's docs prescribe: after every input or command, take the transmit bytes and the
//! events (and re-arm the timer at `pollTimeout`) before the next input. Calls, requests and
//! streams are named by numbers (*keys*): a call's slot and wire id packed into one exact
//! JavaScript number, checked against the slot's current call on every use, so a key of a
//! call that has ended can never reach a newer call in its slot.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wirecall::{CallFailure, CallId, Config, Disconnect, Duration, Endpoint, Event, Instant};
use wirecall::{Open, RequestEnd, RequestId, Resolved, StreamId, StreamMode, WireError};

use crate::errors::{command_error, usage};
use crate::options::Options;

/// The largest frame this build carries (the host runtime's default size).
pub const MAX_FRAME: usize = 4096;
/// Calls in flight each way (the host runtime's default).
pub const MAX_CALLS: usize = 32;
/// Export-table slots (objects this side can hand out as handles).
pub const HANDLES: usize = 64;
/// The transmit queue: two largest frames and the control reserve, as the host runtime's.
const TX: usize = 2 * wirecall::max_encoded_len(MAX_FRAME) + 64;

type Core = Endpoint<MAX_FRAME, MAX_CALLS, MAX_CALLS, TX, HANDLES>;

/// 2^32: keys are `slot * 2^32 + wire id`, below 2^37, exact in a JavaScript number.
const SLOT: f64 = 4_294_967_296.0;

/// One wirecall endpoint (a session over one link). See the module docs of the npm
/// package for the loop that drives it.
#[wasm_bindgen]
pub struct Engine {
    core: Box<Core>,
    /// The call in each outbound slot, to check keys against.
    calls: [Option<CallId>; MAX_CALLS],
    /// The request in each inbound slot.
    requests: [Option<RequestId>; MAX_CALLS],
}

fn instant(now_ms: f64) -> Instant {
    // Negative, NaN: zero (the core clamps time that runs backwards).
    Instant::from_micros((now_ms.max(0.0) * 1000.0) as u64)
}

fn duration(ms: f64) -> Duration {
    Duration::from_micros((ms.max(0.0) * 1000.0) as u64)
}

fn millis(i: Instant) -> f64 {
    i.as_micros() as f64 / 1000.0
}

fn call_key(id: CallId) -> f64 {
    id.index() as f64 * SLOT + f64::from(id.wire())
}

fn request_key(id: RequestId) -> f64 {
    id.index() as f64 * SLOT + f64::from(id.wire())
}

/// The slot and wire id of a key, if it is one.
fn unkey(key: f64) -> Option<(usize, u32)> {
    if !(key >= 0.0 && key < SLOT * MAX_CALLS as f64 && key.fract() == 0.0) {
        return None;
    }
    Some(((key / SLOT) as usize, (key % SLOT) as u32))
}

fn mode_name(mode: StreamMode) -> &'static str {
    match mode {
        StreamMode::Call => "call",
        StreamMode::ClientStream => "client stream",
        StreamMode::ServerStream => "server stream",
        StreamMode::Bidi => "bidi stream",
    }
}

fn mode_of(name: &str) -> Result<StreamMode, JsValue> {
    Ok(match name {
        "call" => StreamMode::Call,
        "client stream" => StreamMode::ClientStream,
        "server stream" => StreamMode::ServerStream,
        "bidi stream" => StreamMode::Bidi,
        other => return Err(usage(&format!("no stream mode {other:?}"))),
    })
}

/// A small object builder (setting a property of a fresh object cannot fail).
struct Obj(Object);

impl Obj {
    fn new(kind: &str) -> Obj {
        Obj(Object::new()).set("type", kind)
    }
    fn set(self, key: &str, value: impl Into<JsValue>) -> Obj {
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }
    fn bytes(self, key: &str, bytes: &[u8]) -> Obj {
        self.set(key, js_sys::Uint8Array::from(bytes))
    }
    fn error(self, code: WireError) -> Obj {
        self.set("code", code as u8).set("error", code.name())
    }
    fn done(self) -> JsValue {
        self.0.into()
    }
}

#[wasm_bindgen]
impl Engine {
    /// A new endpoint at time `now` (milliseconds on any monotonic clock, such as
    /// `performance.now()`); its Hello is ready to transmit at once. `options` (optional):
    /// `maxFrame` (48 to 4096), `maxCalls` (1 to 32), `keepaliveMs`, `callTimeoutMs`,
    /// `streamWindow`, `frameTimeoutMs`, `schema` (the hash this side serves), `manifest`
    /// (the bytes it serves; sets `schema`), `expectSchema`, `handles` (speak handles;
    /// default false). Any other name is an error.
    #[wasm_bindgen(constructor)]
    pub fn new(now: f64, options: JsValue) -> Result<Engine, JsValue> {
        let config: Config = Options::read(&options)?.config();
        Ok(Engine {
            core: Box::new(Core::new(instant(now), config)),
            calls: [None; MAX_CALLS],
            requests: [None; MAX_CALLS],
        })
    }

    /// Feeds bytes that arrived; returns how many were taken. Fewer than given means the
    /// endpoint waits for its events to be polled or its transmit queue to drain: drain
    /// them, then feed the rest.
    #[wasm_bindgen(js_name = handleInput)]
    pub fn handle_input(&mut self, now: f64, bytes: &[u8]) -> usize {
        self.core.handle_input(instant(now), bytes)
    }

    /// Tells the endpoint the time; due deadlines, keepalives and retries fire.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) {
        self.core.handle_timeout(instant(now));
    }

    /// When to call `handleTimeout` next (milliseconds, same clock), or `undefined`.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.core.poll_timeout().map(millis)
    }

    /// Everything queued for the link, as one byte array, or `undefined` if nothing is.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        // Control frames (a Hello, a pong, a credit) are written when polled, so the queue's
        // length alone does not say what is due: poll until the core has nothing more.
        let mut out = Vec::with_capacity(self.core.transmit_pending());
        let mut chunk = [0u8; 1024];
        loop {
            let n = self.core.poll_transmit(&mut chunk);
            if n == 0 {
                break;
            }
            out.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        (!out.is_empty()).then_some(out)
    }

    /// The next event as a plain object with a `type` (`connected`, `disconnected`,
    /// `request`, `reply`, `call_failed`, `request_ended`, `item`, `credit`,
    /// `manifest_piece`, `items_ended`, `invoke`, `released`, `revoked`), or `undefined`.
    /// Byte fields are copies (`Uint8Array`).
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> JsValue {
        let Some(event) = self.core.poll_event() else {
            return JsValue::UNDEFINED;
        };
        match event {
            Event::Connected(peer) => {
                let info = Obj(Object::new())
                    .set("version", peer.version)
                    .set("maxFrame", peer.max_frame)
                    .set("maxInbound", peer.max_inbound)
                    .set("maxOutbound", peer.max_outbound)
                    .set("keepaliveMs", peer.keepalive.as_millis() as f64)
                    .set("schema", peer.schema)
                    .set("manifest", peer.manifest)
                    .set(
                        "callTimeoutMs",
                        peer.call_timeout.map(|d| d.as_millis() as f64),
                    )
                    .set("streamWindow", peer.stream_window)
                    .set("handles", peer.handles);
                Obj::new("connected").set("peer", info.done()).done()
            }
            Event::Disconnected(why) => {
                let (reason, code) = match why {
                    Disconnect::Idle => ("idle", None),
                    Disconnect::PeerRestarted => ("peer_restarted", None),
                    Disconnect::PeerClosed(code) => ("peer_closed", Some(code)),
                    Disconnect::ProtocolViolation => ("protocol_violation", None),
                    Disconnect::LocalClose => ("local_close", None),
                    Disconnect::Incompatible(code) => ("incompatible", Some(code)),
                    _ => ("unknown", None),
                };
                // Every call and request of the session ends with it.
                self.calls = [None; MAX_CALLS];
                self.requests = [None; MAX_CALLS];
                let obj = Obj::new("disconnected").set("reason", reason);
                match code {
                    Some(code) => obj.error(code).done(),
                    None => obj.done(),
                }
            }
            Event::Request {
                id,
                procedure,
                args,
                mode,
                ..
            } => {
                if let Some(slot) = self.requests.get_mut(id.index()) {
                    *slot = Some(id);
                }
                Obj::new("request")
                    .set("request", request_key(id))
                    .set("procedure", procedure)
                    .bytes("args", args)
                    .set("mode", mode_name(mode))
                    .done()
            }
            Event::Invoke {
                id,
                on,
                method,
                args,
                ..
            } => {
                if let Some(slot) = self.requests.get_mut(id.index()) {
                    *slot = Some(id);
                }
                let obj = Obj::new("invoke")
                    .set("request", request_key(id))
                    .set("method", method)
                    .bytes("args", args);
                match on {
                    Resolved::Object { handle, interface } => obj
                        .set("slot", handle.slot() as u32)
                        .set("generation", handle.generation())
                        .set("interface", interface)
                        .done(),
                    Resolved::Pending(call) => obj.set("pending", call).done(),
                }
            }
            Event::Released { handle, interface } => Obj::new("released")
                .set("slot", handle.slot() as u32)
                .set("generation", handle.generation())
                .set("interface", interface)
                .done(),
            Event::Revoked {
                handle,
                code,
                reason,
            } => Obj::new("revoked")
                .set("slot", handle.slot() as u32)
                .set("generation", handle.generation())
                .error(code)
                .set("reason", String::from_utf8_lossy(reason).into_owned())
                .done(),
            Event::Reply { id, payload } => Obj::new("reply")
                .set("call", call_key(id))
                .bytes("payload", payload)
                .done(),
            Event::CallFailed { id, reason, detail } => {
                let obj = Obj::new("call_failed")
                    .set("call", call_key(id))
                    .set("detail", String::from_utf8_lossy(detail).into_owned());
                match reason {
                    CallFailure::Remote(code) => obj.set("reason", "remote").error(code),
                    CallFailure::DeadlineExceeded => obj.set("reason", "deadline_exceeded"),
                    CallFailure::ConnectionLost => obj.set("reason", "connection_lost"),
                    CallFailure::FlowControl => obj.set("reason", "flow_control"),
                    CallFailure::ItemLost => obj.set("reason", "item_lost"),
                    CallFailure::Idle => obj.set("reason", "idle"),
                    _ => obj.set("reason", "unknown"),
                }
                .done()
            }
            Event::RequestEnded { id, reason } => {
                let reason = match reason {
                    RequestEnd::Cancelled => "cancelled",
                    RequestEnd::DeadlineExceeded => "deadline_exceeded",
                    RequestEnd::ConnectionLost => "connection_lost",
                    RequestEnd::FlowControl => "flow_control",
                    RequestEnd::ItemLost => "item_lost",
                    RequestEnd::Idle => "idle",
                    _ => "unknown",
                };
                Obj::new("request_ended")
                    .set("request", request_key(id))
                    .set("reason", reason)
                    .done()
            }
            Event::Item { stream, item } => stream_obj(Obj::new("item"), stream)
                .bytes("item", item)
                .done(),
            Event::Credit { stream } => stream_obj(Obj::new("credit"), stream).done(),
            Event::ManifestPiece {
                total,
                offset,
                bytes,
            } => Obj::new("manifest_piece")
                .set("total", total)
                .set("offset", offset)
                .bytes("bytes", bytes)
                .done(),
            Event::ItemsEnded { id } => Obj::new("items_ended")
                .set("request", request_key(id))
                .done(),
            _ => Obj::new("unknown").done(),
        }
    }

    /// Calls `procedure` with encoded `args`; returns the call's key. `timeoutMs`: the
    /// deadline from now (default: the configured call timeout). Throws an `Error` whose
    /// `code` names the refusal (`NotConnected`, `TooManyCalls` (wait for a call to end),
    /// `TooLarge`, `WouldBlock` (drain the transmit queue), `Closed`, ...).
    pub fn call(
        &mut self,
        now: f64,
        procedure: u32,
        args: &[u8],
        timeout_ms: Option<f64>,
    ) -> Result<f64, JsValue> {
        self.open(now, procedure, args, "call", timeout_ms)
    }

    /// Opens a call of `mode` (`call`, `client stream`, `server stream`, `bidi stream`: the
    /// manifest's kind names); as `call`.
    /// A stream without `timeoutMs` has no deadline of its own.
    pub fn open(
        &mut self,
        now: f64,
        procedure: u32,
        args: &[u8],
        mode: &str,
        timeout_ms: Option<f64>,
    ) -> Result<f64, JsValue> {
        let mut how = Open::stream(mode_of(mode)?);
        if let Some(ms) = timeout_ms {
            how = how.with_timeout(duration(ms));
        }
        let id = self
            .core
            .open(instant(now), procedure, args, how)
            .map_err(|e| command_error(&e))?;
        if let Some(slot) = self.calls.get_mut(id.index()) {
            *slot = Some(id);
        }
        Ok(call_key(id))
    }

    /// Answers request `request` with its encoded result.
    pub fn respond(&mut self, request: f64, result: &[u8]) -> Result<(), JsValue> {
        let id = self.request(request)?;
        self.core.respond(id, result).map_err(|e| command_error(&e))
    }

    /// Answers request `request` with wire error `code` (its number) and a detail text.
    #[wasm_bindgen(js_name = respondError)]
    pub fn respond_error(&mut self, request: f64, code: u8, detail: &str) -> Result<(), JsValue> {
        let id = self.request(request)?;
        self.core
            .respond_error(id, WireError::from_u8(code), detail)
            .map_err(|e| command_error(&e))
    }

    /// Cancels call `call`: the peer is told; no event follows for it.
    pub fn cancel(&mut self, call: f64) -> Result<(), JsValue> {
        let id = self.call_id(call)?;
        self.core.cancel(id).map_err(|e| command_error(&e))
    }

    /// Sends an encoded item on call `call` (a client or bidirectional stream). Throws
    /// `NoCredit` when the window is used up (wait for a `credit` event).
    #[wasm_bindgen(js_name = sendItem)]
    pub fn send_item(&mut self, call: f64, item: &[u8]) -> Result<(), JsValue> {
        let id = self.call_id(call)?;
        self.core
            .send_item(StreamId::Call(id), item)
            .map_err(|e| command_error(&e))
    }

    /// Ends the items of call `call`; the call still waits for its answer.
    #[wasm_bindgen(js_name = endItems)]
    pub fn end_items(&mut self, call: f64) -> Result<(), JsValue> {
        let id = self.call_id(call)?;
        self.core.end_items(id).map_err(|e| command_error(&e))
    }

    /// Reports `items` items of call `call`'s stream consumed (grants the peer credit).
    pub fn consume(&mut self, call: f64, items: u32) -> Result<(), JsValue> {
        let id = self.call_id(call)?;
        self.core
            .consume(StreamId::Call(id), items)
            .map_err(|e| command_error(&e))
    }

    /// Items that may be sent now on call `call`.
    pub fn credit(&self, call: f64) -> u32 {
        self.call_id(call)
            .map_or(0, |id| self.core.credit(StreamId::Call(id)))
    }

    /// Sends an encoded item on request `request` (a server or bidirectional stream it
    /// serves); as `sendItem`.
    #[wasm_bindgen(js_name = sendReplyItem)]
    pub fn send_reply_item(&mut self, request: f64, item: &[u8]) -> Result<(), JsValue> {
        let id = self.request(request)?;
        self.core
            .send_item(StreamId::Request(id), item)
            .map_err(|e| command_error(&e))
    }

    /// Reports `items` items of request `request`'s incoming stream consumed.
    #[wasm_bindgen(js_name = consumeRequest)]
    pub fn consume_request(&mut self, request: f64, items: u32) -> Result<(), JsValue> {
        let id = self.request(request)?;
        self.core
            .consume(StreamId::Request(id), items)
            .map_err(|e| command_error(&e))
    }

    /// Items that may be sent now on request `request`.
    #[wasm_bindgen(js_name = requestCredit)]
    pub fn request_credit(&self, request: f64) -> u32 {
        self.request(request)
            .map_or(0, |id| self.core.credit(StreamId::Request(id)))
    }

    /// Asks the peer for its manifest from byte `offset` (answered by a `manifest_piece`).
    #[wasm_bindgen(js_name = requestManifest)]
    pub fn request_manifest(&mut self, offset: u32) -> Result<(), JsValue> {
        self.core
            .request_manifest(offset)
            .map_err(|e| command_error(&e))
    }

    /// Ends the session (a Close frame is queued); every call fails.
    pub fn close(&mut self) {
        self.core.close();
    }

    /// Ends the session telling the peer wire error `code`.
    #[wasm_bindgen(js_name = closeWith)]
    pub fn close_with(&mut self, code: u8) {
        self.core.close_with(WireError::from_u8(code));
    }

    /// The handshake completed and the session is up.
    #[wasm_bindgen(getter, js_name = isConnected)]
    pub fn is_connected(&self) -> bool {
        self.core.is_connected()
    }

    /// Calls in flight that this side made.
    #[wasm_bindgen(getter, js_name = callsInFlight)]
    pub fn calls_in_flight(&self) -> usize {
        self.core.calls_in_flight()
    }

    /// Bytes waiting in the transmit queue.
    #[wasm_bindgen(getter, js_name = transmitPending)]
    pub fn transmit_pending(&self) -> usize {
        self.core.transmit_pending()
    }

    /// The endpoint's counters (bytes, frames, CRC and framing errors, calls, ...), as an
    /// object with the Rust field names.
    pub fn stats(&self) -> JsValue {
        crate::stats::to_js(self.core.stats())
    }
}

fn stream_obj(obj: Obj, stream: StreamId) -> Obj {
    match stream {
        StreamId::Call(id) => obj.set("call", call_key(id)),
        StreamId::Request(id) => obj.set("request", request_key(id)),
    }
}

impl Engine {
    fn call_id(&self, key: f64) -> Result<CallId, JsValue> {
        unkey(key)
            .and_then(|(slot, wire)| {
                self.calls
                    .get(slot)
                    .copied()
                    .flatten()
                    .filter(|id| id.wire() == wire)
            })
            .ok_or_else(|| crate::errors::coded("NotPending", "no such call in flight"))
    }

    fn request(&self, key: f64) -> Result<RequestId, JsValue> {
        unkey(key)
            .and_then(|(slot, wire)| {
                self.requests
                    .get(slot)
                    .copied()
                    .flatten()
                    .filter(|id| id.wire() == wire)
            })
            .ok_or_else(|| crate::errors::coded("NotPending", "no such request pending"))
    }
}
