// A Peer drives one wirecall Engine (the Rust core, compiled to WebAssembly) over one link.
//
// The engine decides everything the protocol says; the Peer only moves bytes and time
// between it and the link and keeps who-waits-for-what: the promise of each call, the item
// queue of each stream, the handler of each request served. It follows the core's loop:
// after every input or command, transmit what is queued, take every event, then feed the
// rest of the input, and re-arm the one timer at the engine's next deadline.
//
// Nothing waits without a bound: input the engine does not take yet stays with the link
// (which is paused), so a peer that sends faster than this side handles is held back by the
// link's own flow control; a stream's items queue up to the window the engine granted; a
// caller that finds every call slot in use waits as a pending promise of its own.

import { wasm } from "./wasm.js";
import {
  Cancelled, ConnectionLost, DecodeError, IncompatibleSchema, IncompatibleVersion, RemoteError,
  Timeout, TooLarge, WirecallError, ErrorCode,
} from "./errors.js";

/** Milliseconds on a monotonic clock, the engine's time. */
export const now = () => performance.now();

/** The core's default call timeout (`Config::default().call_timeout`). */
const DEFAULT_CALL_TIMEOUT_MS = 5000;

/** The largest manifest accepted from a peer (the engine's frames carry it in pieces). */
const MAX_MANIFEST = 1 << 20;

/** Refusals of a command that mean "wait and try again", not "fail". */
const WAIT_CODES = new Set(["TooManyCalls", "NotConnected", "WouldBlock"]);

/** The error a failed call ends with, from a `call_failed` event. */
function callFailure(e) {
  switch (e.reason) {
    case "remote": return RemoteError.fromWire(e.code, e.detail, e.error);
    case "deadline_exceeded": return new Timeout();
    case "connection_lost": return new ConnectionLost();
    case "idle": return new Timeout("the stream idled past its limit");
    case "flow_control": return new WirecallError("the peer broke the stream's flow control");
    case "item_lost": return new WirecallError("a stream item was lost on the link");
    default: return new WirecallError(`the call failed (${e.reason})`);
  }
}

/** The error for a command the engine refused (not a wait). */
export function commandFailure(e) {
  switch (e.code) {
    case "TooLarge": return new TooLarge(`too large for the agreed frame size: ${e.message}`);
    case "Closed": return new ConnectionLost("the session is closed");
    default: return new WirecallError(`${e.code ?? "error"}: ${e.message}`);
  }
}

/** A promise with its resolve and reject at hand. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/**
 * One session over one link. `link` has `start({data, close, drain})`, `write(bytes)`
 * (false: buffer full, wait for drain), `pause()`, `resume()`, `close()` and `name`.
 * `options`: `engine` (the Engine options: maxFrame, maxCalls, keepaliveMs, callTimeoutMs,
 * streamWindow, manifest, schema, expectSchema), `onRequest(peer, event)` to serve calls,
 * `onDisconnect(event)` when a session ends (the link may carry another), `onClose(error)`.
 */
export class Peer {
  constructor(link, options = {}) {
    const { Engine } = wasm();
    this.link = link;
    this.options = options;
    try {
      this.engine = new Engine(now(), options.engine ?? {});
    } catch (e) {
      // Bad options: the link was opened for nothing; let it go before saying why.
      link.close();
      throw e.code === "Usage" ? new WirecallError(e.message) : e;
    }
    /** call key -> the caller's state: {resolve, reject, item?, credit?} */
    this.calls = new Map();
    /** request key -> the server's state: {event, item?, itemsEnded?, credit?, ended?} */
    this.requests = new Map();
    this.waiters = new Set();
    this.connected = deferred();
    this.connected.promise.catch(() => {});
    this.peerInfo = null;
    this.closed = false;
    this.closeError = null;
    this.backlog = null;
    this.writable = true;
    this.timer = null;
    this.timerAt = Infinity;
    this.driving = false;
    this.again = false;
    this.scheduled = false;
    this.manifestPieces = null;
    this.onRequest = options.onRequest ?? null;
    /** Once set, a session with another schema hash closes the peer (a device re-flashed). */
    this.expectSchema = undefined;
    /** Who watches the session come and go (see onSession). */
    this.sessionWatchers = new Set();
    this.closedPromise = deferred();
    link.start({
      data: (bytes) => this.#input(bytes),
      close: (error) => this.#linkClosed(error),
      drain: () => { this.writable = true; this.drive(); },
    });
    this.drive();
  }

  /** The peer's Hello, once connected: {maxFrame, maxInbound, schema, manifest, ...}. */
  get info() {
    return this.peerInfo;
  }

  /** Resolves once the handshake completed; rejects if the session cannot start. */
  ready() {
    return this.connected.promise;
  }

  /**
   * Calls `fn(info, null)` each time the session comes up (its handshake completed) and
   * `fn(null, error)` each time it ends (the engine may start another over the same link;
   * after close() none comes). Returns the function that stops the calls. For showing a
   * connection's state truthfully: a link can stay open while its session is down.
   */
  onSession(fn) {
    this.sessionWatchers.add(fn);
    return () => this.sessionWatchers.delete(fn);
  }

  #tellSession(info, error) {
    for (const fn of [...this.sessionWatchers]) {
      try {
        fn(info, error);
      } catch (e) {
        // A watcher's bug must not escape into the link's data handler.
        queueMicrotask(() => { throw e; });
      }
    }
  }

  /** Resolves once the peer is closed (link gone), with the error that closed it or null. */
  done() {
    return this.closedPromise.promise;
  }

  #input(bytes) {
    if (this.closed) return;
    this.backlog = this.backlog ? concat(this.backlog, bytes) : bytes;
    this.drive();
  }

  /**
   * Runs the loop at the end of this turn of the event loop: commands issued together (32
   * callers answering 32 replies) go out in one write instead of one write each.
   */
  soon() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.drive();
    });
  }

  /** Runs the core's loop until nothing is left to do. Re-entrant calls only ask again. */
  drive() {
    if (this.driving) {
      this.again = true;
      return;
    }
    this.driving = true;
    try {
      do {
        // Once closed, the engine is let go (and soon freed): nothing more to drive.
        if (this.closed) break;
        this.again = false;
        this.#transmit();
        for (let e = this.engine.pollEvent(); e !== undefined && !this.closed; e = this.closed ? undefined : this.engine.pollEvent()) {
          this.#event(e);
        }
        this.#transmit();
        if (this.backlog && !this.closed) {
          const taken = this.engine.handleInput(now(), this.backlog);
          this.backlog = taken >= this.backlog.length ? null : this.backlog.subarray(taken);
          if (taken > 0) {
            this.again = true;
            // A call slot may have come free without an event (the answer to a Cancel
            // releases a cancelled call's id): callers waiting for one look again.
            this.#wake();
          }
        }
      } while (this.again);
      if (!this.closed) {
        // Input the engine cannot take yet holds the link back (backpressure to the peer).
        if (this.backlog) this.link.pause();
        else this.link.resume();
        this.#arm();
      }
    } finally {
      this.driving = false;
    }
  }

  #transmit() {
    if (!this.writable || this.closed) return;
    const bytes = this.engine.pollTransmit();
    if (bytes === undefined) return;
    this.writable = this.link.write(bytes);
    // A full transmit queue refused commands with WouldBlock: they may go again.
    this.#wake();
  }

  #arm() {
    const at = this.engine.pollTimeout();
    if (at === this.timerAt) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at ?? Infinity;
    if (at === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      if (this.closed) return;
      this.engine.handleTimeout(now());
      this.#wake(); // the grace period of a cancelled call's id may have ended
      this.drive();
    }, Math.max(0, at - now()));
  }

  #event(e) {
    switch (e.type) {
      case "connected":
        if (this.expectSchema !== undefined && e.peer.schema !== this.expectSchema) {
          // A new session (the device restarted) with another schema: its procedures may
          // not be the ones this side encodes for.
          this.close(new IncompatibleSchema(`the peer now serves schema 0x${e.peer.schema.toString(16)}, not 0x${this.expectSchema.toString(16)}`));
          break;
        }
        this.peerInfo = e.peer;
        this.connected.resolve(e.peer);
        this.#tellSession(e.peer, null);
        this.#wake();
        break;
      case "disconnected":
        this.#disconnected(e);
        break;
      case "reply": {
        const call = this.calls.get(e.call);
        if (call) {
          this.calls.delete(e.call);
          call.resolve(e.payload);
          call.credit?.(); // a sender waiting for credit sees the call ended
        }
        this.#wake();
        break;
      }
      case "call_failed": {
        const call = this.calls.get(e.call);
        if (call) {
          this.calls.delete(e.call);
          call.reject(callFailure(e));
          call.credit?.();
        }
        this.#wake();
        break;
      }
      case "item": {
        const owner = e.call !== undefined ? this.calls.get(e.call) : this.requests.get(e.request);
        owner?.item?.(e.item);
        break;
      }
      case "credit": {
        const owner = e.call !== undefined ? this.calls.get(e.call) : this.requests.get(e.request);
        owner?.credit?.();
        break;
      }
      case "items_ended":
        this.requests.get(e.request)?.itemsEnded?.();
        break;
      case "request_ended": {
        const request = this.requests.get(e.request);
        if (request) {
          this.requests.delete(e.request);
          request.ended?.(e.reason);
        }
        break;
      }
      case "manifest_piece":
        this.manifestPieces?.(e);
        break;
      case "request":
      case "invoke":
        this.#request(e);
        break;
      default:
        // released / revoked: this package holds and exports no handles.
        break;
    }
  }

  #request(e) {
    if (e.type === "request" && this.onRequest) {
      this.requests.set(e.request, { event: e });
      this.onRequest(this, e);
      return;
    }
    const what = e.type === "invoke" ? "holds no objects to call methods on" : "serves no procedures";
    this.respondError(e.request, e.type === "invoke" ? ErrorCode.StaleHandle : ErrorCode.UnknownProcedure,
      `this side ${what}`);
  }

  #disconnected(e) {
    this.peerInfo = null;
    let error;
    if (e.reason === "incompatible") {
      error = e.code === ErrorCode.IncompatibleVersion
        ? new IncompatibleVersion("the peer speaks no protocol version this side speaks")
        : new IncompatibleSchema("the peer serves another schema than the one expected");
    } else {
      error = new ConnectionLost(`the session ended (${e.reason.replace(/_/g, " ")}${e.error ? `: ${e.error}` : ""})`);
    }
    // The core ends every call and request of the session with its own event; what is
    // left is who waits for a session (a connect, a manifest): they fail now.
    this.connected.reject(error);
    this.connected = deferred();
    this.connected.promise.catch(() => {});
    this.lastDisconnect = error;
    this.manifestPieces?.({ error });
    this.#tellSession(null, error);
    try {
      this.options.onDisconnect?.(e);
    } catch (err) {
      queueMicrotask(() => { throw err; });
    }
    for (const request of this.requests.values()) request.ended?.("connection_lost");
    this.requests.clear();
    if (e.reason === "incompatible" || e.reason === "local_close") this.close(error);
    this.#wake();
  }

  #linkClosed(error) {
    if (this.closed) return;
    const lost = new ConnectionLost(error ? `the link closed: ${error.message ?? error}` : "the link closed");
    this.close(lost);
  }

  /**
   * Ends the session and the link. Every call still waiting fails with `error` (default:
   * ConnectionLost), every request served is told it ended.
   */
  close(error = null) {
    if (this.closed) return;
    const reason = error ?? new ConnectionLost("the device was closed");
    // A Close frame, best effort, before the link goes.
    this.engine.close();
    const bytes = this.engine.pollTransmit();
    if (bytes !== undefined && this.writable) this.link.write(bytes);
    this.closed = true;
    this.closeError = reason;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.finalStats = this.engine.stats();
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) {
      call.reject(reason);
      call.credit?.();
    }
    for (const request of this.requests.values()) request.ended?.("connection_lost");
    this.requests.clear();
    this.connected.reject(reason);
    this.manifestPieces?.({ error: reason });
    this.#wake();
    this.link.close();
    this.#tellSession(null, reason);
    this.sessionWatchers.clear();
    this.options.onClose?.(error);
    this.closedPromise.resolve(error);
    // The engine's memory is the wasm module's, which the garbage collector does not see:
    // free it now, once the loop that may be polling it (close() can run inside it) ended.
    queueMicrotask(() => this.engine.free());
  }

  #wake() {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  /**
   * Resolves at the next change (a call ended, the session came up, the transmit queue
   * drained) or at `deadline` (ms on `now()`): for a server retrying a refused answer.
   */
  changed(deadline = Infinity, signal = undefined) {
    return this.#changed(deadline, signal);
  }

  /** Waits until something changed (a call ended, the session came up, the queue drained). */
  #changed(deadline, signal) {
    return new Promise((resolve) => {
      let timer = null;
      const done = () => {
        if (timer !== null) clearTimeout(timer);
        signal?.removeEventListener("abort", aborted);
        this.waiters.delete(done);
        resolve();
      };
      const aborted = () => { done(); };
      this.waiters.add(done);
      if (deadline !== Infinity) timer = setTimeout(done, Math.max(0, deadline - now()));
      signal?.addEventListener("abort", aborted, { once: true });
    });
  }

  /**
   * Starts a call: `procedure` (its number), encoded `args`, `mode` (`call`,
   * `server stream`, `client stream`, `bidi stream`). Options: `timeoutMs` (the deadline, which
   * also bounds waiting for a free call slot or for the session), `signal` (an AbortSignal:
   * cancels), `item(bytes)` and `credit()` for streams. Returns `{key, result}` where
   * `result` resolves with the reply's bytes.
   */
  async start(procedure, args, mode = "call", options = {}) {
    const { timeoutMs, signal } = options;
    // A plain call without a deadline of its own has the engine's default one, which also
    // bounds its wait for a session or a slot; a stream without one waits as long as it runs.
    const implicit = timeoutMs === undefined && mode === "call" ? this.options.engine?.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS : undefined;
    const deadline = now() + (timeoutMs ?? implicit ?? Infinity);
    let waited = false;
    for (;;) {
      if (this.closed) throw this.closeError;
      if (signal?.aborted) throw new Cancelled();
      const remaining = deadline - now();
      if (remaining <= 0) throw new Timeout("no free call slot or session before the deadline");
      // Unless it waited, a call with the default deadline sends none (the peer knows it).
      const left = timeoutMs !== undefined || waited ? (remaining === Infinity ? undefined : remaining) : undefined;
      let key;
      try {
        key = this.engine.open(now(), procedure, args, mode, left);
      } catch (e) {
        if (WAIT_CODES.has(e.code)) {
          waited = true;
          await this.#changed(deadline, signal);
          continue;
        }
        throw commandFailure(e);
      }
      const result = deferred();
      const state = { resolve: result.resolve, reject: result.reject, item: options.item, credit: options.credit };
      this.calls.set(key, state);
      if (signal) {
        const abort = () => this.cancel(key, new Cancelled());
        signal.addEventListener("abort", abort, { once: true });
        result.promise.then(() => signal.removeEventListener("abort", abort), () => signal.removeEventListener("abort", abort));
      }
      this.soon();
      return { key, result: result.promise };
    }
  }

  /** A plain call: resolves with the reply's bytes. */
  async call(procedure, args, options = {}) {
    const { result } = await this.start(procedure, args, "call", options);
    return result;
  }

  /** Cancels call `key` (the peer is told); its promise rejects with `error`. */
  cancel(key, error = new Cancelled()) {
    const call = this.calls.get(key);
    if (!call) return;
    this.calls.delete(key);
    try {
      this.engine.cancel(key);
    } catch {
      // Already ended in the engine: nothing to tell the peer.
    }
    call.reject(error);
    call.credit?.();
    this.#wake();
    this.soon();
  }

  /** Grants the peer credit for `items` items consumed on call `key`'s stream. */
  consume(key, items = 1) {
    if (this.closed) return;
    try {
      this.engine.consume(key, items);
    } catch {
      return; // the call ended meanwhile
    }
    this.soon();
  }

  /**
   * Sends an item on call `key` (a client or bidirectional stream), waiting for credit.
   * `waitCredit()` resolves when a `credit` event arrives for it.
   */
  async sendItem(key, bytes, waitCredit) {
    await this.#sendOn(this.calls, key, () => this.engine.sendItem(key, bytes), waitCredit,
      () => this.closeError ?? new ConnectionLost("the call ended"));
  }

  /**
   * Sends an item by `send()` for the call or request under `key` in `table`, waiting for
   * credit (`NoCredit`) or for the link to drain (`WouldBlock`: credit will not come while
   * our items cannot go out), for as long as that same call or request runs: the state
   * object, not the key, since a key can name a newer one once this one ended.
   */
  async #sendOn(table, key, send, waitCredit, ended) {
    const state = table.get(key);
    for (;;) {
      if (state === undefined || table.get(key) !== state) throw ended();
      try {
        send();
        this.soon();
        return;
      } catch (e) {
        if (e.code === "NoCredit") await waitCredit();
        else if (e.code === "WouldBlock") await this.#drained();
        else throw commandFailure(e);
      }
    }
  }

  /** Waits until the loop ran again (the link drained, input came, a timer fired). */
  #drained() {
    this.soon();
    return this.#changed(Infinity);
  }

  /** Ends the items of call `key`. */
  endItems(key) {
    if (this.closed) return;
    try {
      this.engine.endItems(key);
    } catch (e) {
      if (this.calls.has(key)) throw commandFailure(e);
    }
    this.soon();
  }

  /**
   * Answers request `key` with encoded bytes. Returns false, leaving the request pending,
   * when the transmit queue is full (try again after `changed()`); throws TooLarge (the
   * request still pending, to be answered with an error) for bytes beyond the frame.
   */
  respond(key, bytes) {
    return this.#answer(key, () => this.engine.respond(key, bytes));
  }

  /** Answers request `key` with wire error `code` and a detail text; as `respond`. */
  respondError(key, code, detail = "") {
    return this.#answer(key, () => this.engine.respondError(key, code, detail));
  }

  #answer(key, send) {
    if (this.closed) return true; // the request ended with the session
    try {
      send();
    } catch (e) {
      if (e.code === "WouldBlock") return false;
      if (e.code !== "NotPending") throw commandFailure(e);
    }
    this.requests.delete(key);
    this.soon();
    return true;
  }

  /** Sends an item on request `key`'s server stream, waiting for credit. */
  async sendReplyItem(key, bytes, waitCredit) {
    await this.#sendOn(this.requests, key, () => this.engine.sendReplyItem(key, bytes), waitCredit,
      () => new Cancelled("the request ended"));
  }

  /** Grants the caller credit for `items` items of request `key` consumed. */
  consumeRequest(key, items = 1) {
    if (this.closed) return;
    try {
      this.engine.consumeRequest(key, items);
    } catch {
      return;
    }
    this.soon();
  }

  /**
   * Fetches the peer's manifest (in pieces, as the frame size allows), checks it against
   * the schema hash of the peer's Hello, and resolves with its bytes.
   */
  async fetchManifest() {
    const info = await this.ready();
    if (!info.manifest) {
      throw new IncompatibleSchema("the peer does not describe itself (it sends no manifest)");
    }
    const parts = [];
    let have = 0;
    let total = null;
    while (total === null || have < total) {
      const piece = deferred();
      this.manifestPieces = (e) => (e.error ? piece.reject(e.error) : piece.resolve(e));
      try {
        this.engine.requestManifest(have);
      } catch (e) {
        if (!WAIT_CODES.has(e.code)) throw commandFailure(e);
        await this.#changed(now() + 50);
        continue;
      }
      this.soon();
      const timer = setTimeout(() => piece.reject(new Timeout("the peer did not send its manifest")), 5000);
      let e;
      try {
        e = await piece.promise;
      } finally {
        clearTimeout(timer);
        this.manifestPieces = null;
      }
      if (e.offset !== have) continue; // a late piece of an earlier request
      if (e.total > MAX_MANIFEST) throw new DecodeError(`the peer's manifest of ${e.total} bytes exceeds ${MAX_MANIFEST}`);
      if (total !== null && e.total !== total) throw new DecodeError("the peer's manifest changed while it was read");
      total = e.total;
      if (e.bytes.length === 0 && have < total) throw new DecodeError("the peer sent an empty piece of its manifest");
      parts.push(e.bytes);
      have += e.bytes.length;
    }
    const bytes = concat(...parts);
    const hash = wasm().manifestHash(bytes);
    if (hash !== info.schema) {
      throw new IncompatibleSchema(`the peer's manifest hashes to 0x${hash.toString(16)}, its Hello says 0x${info.schema.toString(16)}`);
    }
    return bytes;
  }

  /** The engine's counters (as they were at the end, once closed). */
  stats() {
    return this.closed ? this.finalStats : this.engine.stats();
  }
}

/** The bytes of several Uint8Arrays, one after another. */
export function concat(...parts) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
