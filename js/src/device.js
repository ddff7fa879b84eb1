// A Device: a wirecall peer called by procedure name, bound at run time to the manifest the
// peer sends. Values cross as plain JavaScript values, encoded and decoded by the Rust codec
// of the manifest (compiled into the same WebAssembly module as the engine).

import { wasm } from "./wasm.js";
import { Peer, deferred, now } from "./peer.js";
import { Cancelled, ConnectionLost, DecodeError, EncodeError, Timeout, WirecallError } from "./errors.js";

/** How long `connect` waits for the handshake and the manifest, by default. */
export const CONNECT_TIMEOUT_MS = 5000;

function encodeError(e) {
  return e.code === "UnknownProcedure" ? new WirecallError(e.message) : new EncodeError(e.message);
}

/** Runs a codec call, turning its errors into EncodeError / DecodeError. */
function codec(fn, Kind) {
  try {
    return fn();
  } catch (e) {
    if (Kind === DecodeError) throw new DecodeError(e.message);
    throw encodeError(e);
  }
}

/** A promise that rejects with a Timeout after `ms` (and the cancel of its timer). */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens a session over `link` (see peer.js for what a link is), reads the peer's manifest
 * and returns a Device. Options: `timeoutMs` (default per-call deadline), `connectTimeoutMs`
 * (handshake and manifest, default 5000), and the engine's options (`maxFrame`,
 * `maxCalls`, `keepaliveMs`, `streamWindow`, `expectSchema`).
 */
export async function deviceOver(link, options = {}) {
  const { timeoutMs, connectTimeoutMs = CONNECT_TIMEOUT_MS, signal, ...engine } = options;
  const peer = new Peer(link, { engine });
  try {
    const bytes = await within(manifestOf(peer), connectTimeoutMs, `connecting to ${link.name}`);
    const schema = new (wasm().Schema)(bytes);
    peer.expectSchema = schema.hash;
    return new Device(peer, schema, { timeoutMs, signal });
  } catch (e) {
    peer.close(e instanceof WirecallError ? e : new ConnectionLost(String(e)));
    throw e;
  }
}

/**
 * The peer's manifest, read again from the start if the session restarts meanwhile (a
 * device that resets while it boots, a Hello of its own crossing ours and taken for a
 * restart): connecting succeeds whenever a session stays up long enough to read it.
 */
async function manifestOf(peer) {
  for (;;) {
    try {
      return await peer.fetchManifest();
    } catch (e) {
      if (peer.closed || !(e instanceof ConnectionLost)) throw e;
    }
  }
}

/**
 * A connected peer, called by procedure name. Each procedure whose name does not clash
 * with a member of Device is also a method (`dev.add(2, 3)`); `dev.call("add", 2, 3)`
 * always works.
 *
 * Arguments: positional (`dev.add(2, 3)`), one array or one object by parameter name
 * (`dev.add({a: 2, b: 3})`), or the bare value of a one-parameter procedure. A procedure
 * that takes a stream of items takes it as its last argument (any iterable or async
 * iterable). A procedure that sends a stream returns an ItemStream at once: `for await
 * (const x of dev.count(10))`, and its `result` promise for the final value.
 */
export class Device {
  constructor(peer, schema, defaults = {}, manifest = schema.describe()) {
    this.peer = peer;
    this.schema = schema;
    this.defaults = defaults;
    this.manifest = manifest;
    this.byName = new Map(this.manifest.procedures.map((p) => [p.name, p]));
    for (const p of this.manifest.procedures) {
      if (!(p.name in this)) {
        Object.defineProperty(this, p.name, {
          value: (...args) => this.call(p.name, ...args),
          enumerable: false,
        });
      }
    }
  }

  /** The service's name. */
  get service() {
    return this.manifest.service;
  }

  /** The procedures: `{id, name, kind, signature, params, output, item, in_item}`. */
  get procedures() {
    return this.manifest.procedures;
  }

  /** The schema hash the peer serves. */
  get schemaHash() {
    return this.schema.hash;
  }

  /**
   * A view of this device whose calls use other defaults: `timeoutMs` (deadline of each
   * call), `signal` (an AbortSignal that cancels them).
   */
  with(defaults) {
    return new Device(this.peer, this.schema, { ...this.defaults, ...defaults }, this.manifest);
  }

  /** Calls procedure `name`; see the class docs for the forms of arguments and results. */
  call(name, ...args) {
    const p = this.byName.get(name);
    if (!p) {
      return Promise.reject(new WirecallError(`${this.service} has no procedure ${name} (it has ${[...this.byName.keys()].join(", ")})`));
    }
    const items = p.kind === "client stream" || p.kind === "bidi stream" ? args.pop() : undefined;
    if (items !== undefined && !(items?.[Symbol.iterator] || items?.[Symbol.asyncIterator])) {
      return Promise.reject(new EncodeError(`${name}: its last argument is its stream of items, an iterable`));
    }
    const value = args.length === 1 ? args[0] : args;
    let bytes;
    try {
      bytes = codec(() => this.schema.encode("args", name, value), EncodeError);
    } catch (e) {
      if (p.kind === "server stream" || p.kind === "bidi stream") return ItemStream.failed(e);
      return Promise.reject(e);
    }
    switch (p.kind) {
      case "call": return this.#plain(p, bytes);
      case "server stream": return new ItemStream(this, p, bytes, undefined);
      case "client stream": return this.#sending(p, bytes, items);
      default: return new ItemStream(this, p, bytes, items);
    }
  }

  async #plain(p, bytes) {
    const payload = await this.peer.call(p.id, bytes, this.defaults);
    return codec(() => this.schema.decode("output", p.name, payload), DecodeError);
  }

  async #sending(p, bytes, items) {
    const credit = new Signal();
    const { key, result } = await this.peer.start(p.id, bytes, "client stream", {
      ...this.defaults, credit: () => credit.fire(),
    });
    result.catch(() => {});
    await sendAll(this, p, key, items, credit);
    const payload = await result;
    return codec(() => this.schema.decode("output", p.name, payload), DecodeError);
  }

  /** The engine's counters. */
  stats() {
    return this.peer.stats();
  }

  /** Ends the session and the link; calls still waiting fail with ConnectionLost. */
  close() {
    this.peer.close();
    return this.peer.done();
  }
}

/** Sends every item of `items` on call `key`, then ends them (stops early if the call ends). */
async function sendAll(device, p, key, items, credit) {
  const { peer, schema } = device;
  try {
    for await (const item of items) {
      if (!peer.calls.has(key)) return;
      const bytes = codec(() => schema.encode("in_item", p.name, item), EncodeError);
      await peer.sendItem(key, bytes, () => credit.wait());
    }
    if (peer.calls.has(key)) peer.endItems(key);
  } catch (e) {
    // A bad item or a failing source ends the call: the caller sees why.
    const call = peer.calls.get(key);
    if (call) peer.cancel(key, e instanceof WirecallError ? e : new WirecallError(`the items failed: ${e?.message ?? e}`));
  }
}

/** A one-shot wake-up that can be waited on again and again. */
export class Signal {
  constructor() {
    this.waiting = null;
  }
  wait() {
    this.waiting ??= deferred();
    return this.waiting.promise;
  }
  fire() {
    const w = this.waiting;
    this.waiting = null;
    w?.resolve();
  }
}

/**
 * The items a procedure sends, as an async iterable; `result` resolves with its final
 * value once the items ended. Leaving a `for await` loop early cancels the call. Each item
 * is acknowledged to the peer when taken, so the peer sends ahead at most its window.
 */
export class ItemStream {
  constructor(device, p, bytes, outgoing) {
    this.device = device;
    this.procedure = p;
    this.queue = [];
    this.finished = false;
    this.error = null;
    this.key = null;
    this.changed = new Signal();
    const final = deferred();
    this.result = final.promise;
    this.result.catch(() => {});
    if (!device) {
      return;
    }
    const credit = new Signal();
    this.started = device.peer.start(p.id, bytes, p.kind, {
      ...device.defaults,
      item: (b) => { this.queue.push(b); this.changed.fire(); },
      credit: () => credit.fire(),
    }).then(({ key, result }) => {
      this.key = key;
      if (this.unacked > 0) device.peer.consume(key, this.unacked);
      if (this.cancelled) device.peer.cancel(key, new Cancelled());
      if (outgoing !== undefined) sendAll(device, p, key, outgoing, credit);
      result.then((payload) => {
        this.finished = true;
        this.changed.fire();
        try {
          final.resolve(device.schema.decode("output", p.name, payload));
        } catch (e) {
          final.reject(new DecodeError(e.message));
        }
      }, (e) => this.#fail(e, final));
    }, (e) => this.#fail(e, final));
  }

  /** A stream that fails at once with `error` (its arguments did not encode). */
  static failed(error) {
    const s = new ItemStream(null, null, null, undefined);
    s.error = error;
    s.finished = true;
    s.result = Promise.reject(error);
    s.result.catch(() => {});
    return s;
  }

  #fail(e, final) {
    this.error = e;
    this.finished = true;
    this.changed.fire();
    final.reject(e);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The next item: `{value, done}`. Throws the call's error if it failed. */
  async next() {
    for (;;) {
      if (this.queue.length > 0) {
        const bytes = this.queue.shift();
        if (this.key !== null) this.device.peer.consume(this.key, 1);
        else this.unacked = (this.unacked ?? 0) + 1;
        try {
          return { value: this.device.schema.decode("item", this.procedure.name, bytes), done: false };
        } catch (e) {
          this.cancel(new DecodeError(e.message));
          throw new DecodeError(e.message);
        }
      }
      if (this.error) throw this.error;
      if (this.finished) return { value: undefined, done: true };
      await this.changed.wait();
    }
  }

  /** Leaving a loop early: cancels the call if it is still running. */
  async return() {
    if (!this.finished) this.cancel();
    return { value: undefined, done: true };
  }

  /** Cancels the call: the peer is told, the stream ends with Cancelled. */
  cancel(error = new Cancelled()) {
    if (this.finished) return;
    this.cancelled = true;
    if (this.key !== null) this.device.peer.cancel(this.key, error);
  }

  /** Every item, collected (for short streams). */
  async toArray() {
    const out = [];
    for await (const x of this) out.push(x);
    return out;
  }
}

export { now };
