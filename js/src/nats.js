// wirecall devices on a NATS bus, called through `wirecall-gateway` (docs/NATS.md) with the
// `nats` package (an optional dependency: `npm install nats`):
//
//   import { connectNats } from "wirecall/nats";
//   const bus = await connectNats("nats://127.0.0.1:4222");
//   await bus.devices();                         // [{id: "demo", service, schema, procedures, ...}]
//   const dev = bus.device("demo");
//   await dev.add(2, 40);                        // 42
//   for await (const x of dev.count(5)) ...      // a server stream
//   await bus.close();
//
// On the bus every payload is JSON and the gateway encodes it against the device's manifest,
// so no manifest and no WebAssembly are needed here. Every reply comes to one wildcard
// subscription on the bus's own inbox, each request with a reply subject of its own there:
// that subject is also what a cancel names (`wirecall.ID.PROCEDURE.cancel`), published when
// a call is aborted, when its timeout passes without an answer, when a stream is left
// before its end, and for every call and stream still waiting when the bus is closed.

import {
  Busy, Cancelled, ConnectionLost, DeadlineExceeded, DecodeError, ErrorCode, IncompatibleSchema,
  LinkError, RemoteError, Timeout, WirecallError,
} from "./errors.js";

/** The request header that gives the call's deadline in milliseconds. */
export const TIMEOUT_HEADER = "Wirecall-Timeout-Ms";
/** A stream item's header: its number, from 1. */
export const ITEM_HEADER = "Wirecall-Item";
/** The header of a stream's last message when it ended well: how many items it sent. */
export const END_HEADER = "Wirecall-End";
const ERROR_HEADER = "Nats-Service-Error";
const ERROR_CODE_HEADER = "Nats-Service-Error-Code";

/** The deadline of a call that names none: the device's own default (docs/NATS.md). */
export const DEFAULT_TIMEOUT_MS = 5000;
/** How long after its deadline a call still waits for the gateway's own answer (a 504, or
 * the result that crossed the deadline) before it gives up on the gateway itself. */
export const GRACE_MS = 1000;
/** How long a stream may bring nothing before it is cancelled: a gateway that was killed
 * never sends the stream's end. */
export const STREAM_IDLE_MS = 30000;

// A device id and a procedure name are each one subject token.
const TOKEN = /^[A-Za-z0-9_-]+$/;
const SERVICE_PREFIX = "wirecall-";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** No gateway on the bus serves the device (nobody answered its subject). */
export class NoGateway extends ConnectionLost {}

/** The exception for a gateway's error answer: its code and text (docs/NATS.md's table). */
export function errorFor(code, text) {
  switch (code) {
    case 400: return new RemoteError(ErrorCode.BadArguments, text);
    case 404: return new RemoteError(ErrorCode.UnknownProcedure, text);
    case 409: return new IncompatibleSchema(text);
    case 413: return new RemoteError(ErrorCode.TooLarge, text);
    case 499: return new Cancelled(text);
    case 502: return new DecodeError(text);
    case 503:
      if (text.startsWith("Busy")) return new Busy(text.replace(/^Busy:?\s*/, ""));
      if (text.includes("shutting down")) return new RemoteError(ErrorCode.ShuttingDown, text);
      return new ConnectionLost(text);
    case 504: return new DeadlineExceeded(text);
    default: return new RemoteError(ErrorCode.Internal, `${text} (code ${code})`);
  }
}

function checkToken(what, token) {
  if (typeof token !== "string" || !TOKEN.test(token)) {
    throw new TypeError(`bad ${what} ${JSON.stringify(token)}: use letters, digits, - and _ only`);
  }
  return token;
}

/** The request payload: bytes as arrays of numbers, BigInts as decimal strings (the
 * codec's JSON conventions); `undefined` is no arguments. */
function payloadOf(args) {
  if (args === undefined) return new Uint8Array(0);
  const text = JSON.stringify(args, (_, v) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return Array.from(v);
    return v;
  });
  return encoder.encode(text);
}

function decode(data) {
  const text = decoder.decode(data);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DecodeError(`the gateway's answer is not JSON: ${e.message}: ${text.slice(0, 80)}`);
  }
}

function checkTimeout(timeoutMs) {
  if (!(timeoutMs > 0)) throw new RangeError(`a timeout must be above 0 ms, not ${timeoutMs}`);
  return Math.max(1, Math.ceil(timeoutMs));
}

/** NATS's own answer when nobody subscribes to a request's subject: status 503, empty. */
function isNoResponders(msg) {
  return msg.data.length === 0 && msg.headers?.code === 503 && !msg.headers.has(ERROR_CODE_HEADER);
}

/** The gateway's error answer, if `msg` is one: either error header makes it one, and a
 * missing or unreadable code is 500 (as `wirecall call --nats` reads it). */
function errorOf(msg) {
  if (!msg.headers?.has(ERROR_CODE_HEADER) && !msg.headers?.has(ERROR_HEADER)) return null;
  const code = msg.headers.get(ERROR_CODE_HEADER);
  return errorFor(Number.parseInt(code, 10) || 500, msg.headers.get(ERROR_HEADER) ?? "");
}

/** A `$SRV.INFO` answer as `{device, gateway}`, or null for another kind of service. */
function deviceInfo(data) {
  let info;
  try {
    info = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  const metadata = info?.metadata ?? {};
  if (typeof info?.name !== "string" || !info.name.startsWith(SERVICE_PREFIX) || !metadata.schema_hash) return null;
  const procedures = (info.endpoints ?? []).map((e) => {
    const meta = e.metadata ?? {};
    return {
      name: e.name,
      subject: e.subject,
      signature: meta.signature ?? "",
      mode: meta.mode ?? "call",
      procedureId: meta.procedure_id === undefined ? null : Number(meta.procedure_id),
    };
  }).sort((a, b) => (a.procedureId ?? Infinity) - (b.procedureId ?? Infinity));
  return {
    device: {
      id: info.name.slice(SERVICE_PREFIX.length),
      service: metadata.wirecall_service ?? "",
      schema: Number.parseInt(metadata.schema_hash, 16),
      link: metadata.link ?? "",
      procedures,
      gateways: [],
    },
    gateway: String(info.id ?? ""),
  };
}

/** Loads the `nats` package, or says how to install it. */
async function natsModule() {
  try {
    return await import("nats");
  } catch (e) {
    if (e?.code === "ERR_MODULE_NOT_FOUND") {
      throw new LinkError("wirecall/nats needs the `nats` package: npm install nats");
    }
    throw e;
  }
}

/**
 * Connects to NATS and returns a NatsBus. `options`: `timeoutMs` (the deadline of calls
 * and streams that name none, default 5000), and the rest goes to the `nats` package's
 * `connect`.
 */
export async function connectNats(servers = "nats://127.0.0.1:4222", options = {}) {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, ...natsOptions } = options;
  const nats = await natsModule();
  let nc;
  try {
    nc = await nats.connect({ servers, ...natsOptions });
  } catch (e) {
    throw new ConnectionLost(`cannot connect to NATS at ${servers}: ${e?.message ?? e}`);
  }
  return new NatsBus(nc, nats, { timeoutMs, owned: true });
}

/** A NatsBus on a NATS connection the caller made (and closes). */
export async function busOver(nc, options = {}) {
  const { timeoutMs = DEFAULT_TIMEOUT_MS } = options;
  const bus = new NatsBus(nc, await natsModule(), { timeoutMs, owned: false });
  await nc.flush();
  return bus;
}

/** A NATS connection that calls wirecall devices through their gateways. */
export class NatsBus {
  #routes = new Map(); // reply subject -> {take(msg), fail(error), subject to cancel or null}
  #next = 0;

  constructor(nc, nats, { timeoutMs = DEFAULT_TIMEOUT_MS, owned = false } = {}) {
    this.nc = nc;
    this.timeoutMs = timeoutMs;
    this.owned = owned;
    this.nats = nats;
    // The connection's own inbox prefix, if it was given one (NATS permissions often allow
    // replies only under it).
    this.prefix = nats.createInbox(nc.options?.inboxPrefix);
    this.subscription = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (!err) this.#routes.get(msg.subject)?.take(msg);
      },
    });
  }

  /** A fresh reply subject whose messages go to `take` (and `fail`, with ConnectionLost,
   * if the bus closes first, which then also cancels the request to `subject` if one is
   * given); `drop()` it when done. */
  route(take, fail = () => {}, subject = null) {
    const reply = `${this.prefix}.${++this.#next}`;
    this.#routes.set(reply, { take, fail, subject });
    return { reply, drop: () => this.#routes.delete(reply) };
  }

  /** The headers of a request with deadline `timeoutMs`: every request carries its
   * deadline, since NATS requests have none of their own. */
  headers(timeoutMs) {
    const h = this.nats.headers();
    h.set(TIMEOUT_HEADER, String(checkTimeout(timeoutMs)));
    return h;
  }

  /** Publishes the cancel of the request whose reply subject is `reply`, and flushes it
   * rather than leave it in the connection's buffer for a later write. */
  cancel(subject, reply) {
    try {
      this.nc.publish(`${subject}.cancel`, encoder.encode(reply));
      // The caller is not held up by it; a failed flush means a closed connection.
      this.nc.flush().catch(() => {});
    } catch {
      // The connection is closing or closed: the gateway hears nothing more from this
      // caller anyway, and the call ends at its deadline there.
    }
  }

  /**
   * The device with id `id`: no request is made (a device no gateway serves fails at its
   * first call with NoGateway). `defaults`: `timeoutMs`, `signal` for its calls.
   */
  device(id, defaults = {}) {
    return natsDevice(this, checkToken("device id", id), defaults);
  }

  /**
   * The devices on the bus: every gateway answers `$SRV.INFO` once per device it serves.
   * Gathers answers until none came for `quietMs`, at most `timeoutMs` in all. A device
   * served by several gateways is one entry listing them all in `gateways` (one per schema,
   * should two gateways serve different schemas under one id).
   */
  async devices({ timeoutMs = 2000, quietMs = 250 } = {}) {
    const found = new Map();
    let wake = null;
    const queue = [];
    const { reply, drop } = this.route((msg) => { queue.push(msg); wake?.(); });
    try {
      this.nc.publish("$SRV.INFO", new Uint8Array(0), { reply });
      const end = performance.now() + timeoutMs;
      let wait = timeoutMs; // the first answer may take the whole bound; the rest come close
      for (;;) {
        if (queue.length === 0) {
          const left = end - performance.now();
          if (left <= 0) break;
          let timer;
          await new Promise((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, Math.min(left, wait));
          });
          clearTimeout(timer);
          wake = null;
          if (queue.length === 0) break;
        }
        const msg = queue.shift();
        if (isNoResponders(msg)) break; // no service at all on the bus
        wait = quietMs;
        const parsed = deviceInfo(msg.data);
        if (!parsed) continue;
        const key = `${parsed.device.id}/${parsed.device.schema}`;
        if (!found.has(key)) found.set(key, parsed.device);
        found.get(key).gateways.push(parsed.gateway);
      }
    } finally {
      drop();
    }
    return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.schema - b.schema));
  }

  /** One gateway's description of device `id` (`$SRV.INFO.wirecall-ID`), or null. */
  async deviceInfo(id, { timeoutMs = 2000 } = {}) {
    checkToken("device id", id);
    try {
      const msg = await this.nc.request(`$SRV.INFO.${SERVICE_PREFIX}${id}`, new Uint8Array(0), { timeout: timeoutMs });
      const parsed = deviceInfo(msg.data);
      if (!parsed) return null;
      parsed.device.gateways.push(parsed.gateway);
      return parsed.device;
    } catch (e) {
      if (e?.code === "503" || e?.code === "TIMEOUT") return null;
      throw e;
    }
  }

  /**
   * Calls `procedure` of device `id` with JSON `args` (an array by position, an object by
   * name, a bare value, `undefined` for none). `options`: `timeoutMs` (sent as the call's
   * deadline; the bus's default if undefined) and `signal` (an AbortSignal).
   */
  call(id, procedure, args, options = {}) {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const { signal } = options;
    let subject, payload, headers;
    try {
      subject = `wirecall.${checkToken("device id", id)}.${checkToken("procedure name", procedure)}`;
      payload = payloadOf(args);
      headers = this.headers(timeoutMs);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new Cancelled(`${procedure} was cancelled before it was sent`));
        return;
      }
      let timer = null;
      const { reply, drop } = this.route((msg) => {
        finish();
        this.#answer(msg, id, procedure, subject, reply).then(resolve, reject);
      }, (e) => {
        finish();
        reject(e);
      }, subject);
      const onAbort = () => {
        finish();
        this.cancel(subject, reply);
        reject(new Cancelled(`${procedure} was cancelled (the gateway was sent a cancel)`));
      };
      const finish = () => {
        drop();
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      try {
        this.nc.publish(subject, payload, { reply, headers });
      } catch (e) {
        finish();
        reject(e instanceof WirecallError ? e : new ConnectionLost(`cannot send to NATS: ${e?.message ?? e}`));
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      timer = setTimeout(() => {
        finish();
        this.cancel(subject, reply);
        reject(new Timeout(`no answer to ${subject} within ${timeoutMs} ms (the gateway was sent a cancel)`));
      }, timeoutMs + GRACE_MS);
    });
  }

  async #answer(msg, id, procedure, subject, reply) {
    if (isNoResponders(msg)) throw await this.nobodyServes(id, procedure);
    const failure = errorOf(msg);
    if (failure) throw failure;
    if (msg.headers?.has(ITEM_HEADER)) {
      this.cancel(subject, reply);
      throw new WirecallError(`${procedure} is a server stream: iterate it (for await (const x of dev.${procedure}(...)))`);
    }
    return decode(msg.data);
  }

  /**
   * A server stream of `procedure`: iterate it with `for await`. `options`: `timeoutMs`
   * bounds the whole stream (sent as its deadline as for a call; the bus's default if
   * undefined), `idleMs` how long it may bring nothing, `signal` cancels it.
   */
  stream(id, procedure, args, options = {}) {
    return new NatsStream(this, id, procedure, args, { ...options, timeoutMs: options.timeoutMs ?? this.timeoutMs });
  }

  /** Why nobody answered `wirecall.ID.PROCEDURE`: no gateway serves the device, or its
   * gateway serves no such procedure (asked with `$SRV.INFO`). */
  async nobodyServes(id, procedure) {
    const info = await this.deviceInfo(id);
    if (!info) {
      return new NoGateway(`no gateway serves device ${id} on this bus (nobody answers wirecall.${id}.${procedure})`);
    }
    const served = info.procedures.map((p) => p.name).join(", ");
    return new RemoteError(ErrorCode.UnknownProcedure,
      `device ${id} has no procedure ${procedure} on the bus (its gateway serves ${served})`);
  }

  /** Fails the calls and streams still waiting (ConnectionLost) and sends their cancels,
   * so that the devices stop them rather than run them to their deadlines holding call
   * slots; flushes what is on its way, removes the bus's subscription, then closes the
   * connection if this bus made it. */
  close() {
    // Once: a second close (say, a test's cleanup after the test closed it) waits for the first.
    this.closing ??= this.#close();
    return this.closing;
  }

  async #close() {
    const pending = [...this.#routes];
    this.#routes.clear();
    for (const [, { fail }] of pending) fail(new ConnectionLost("the bus was closed"));
    if (this.nc.isClosed()) return;
    try {
      for (const [reply, { subject }] of pending) {
        if (subject !== null) this.nc.publish(`${subject}.cancel`, encoder.encode(reply));
      }
      await this.nc.flush();
    } catch {
      // The connection is closing under the bus (drained by its owner): the gateway hears
      // nothing more from it, and the calls end at their deadlines there.
    }
    this.subscription.unsubscribe();
    if (this.owned) await this.nc.drain();
    else await this.nc.flush();
  }
}

/**
 * The items of one server stream, as they arrive (`for await`). Leaving the loop early,
 * `cancel()`, an aborted signal or the timeout cancels it on the device. `count` is the
 * number of items the gateway said it sent, once the stream ended well; `result` resolves
 * then with the procedure's final value (null for none), or rejects with the stream's error.
 */
export class NatsStream {
  #queue = [];
  #wake = null;
  #reply = null;
  #drop = null;
  #deadline = null;
  #items = 0;
  #ended = false;
  #error = null;
  #onAbort = null;
  #final = null;

  constructor(bus, id, procedure, args, { timeoutMs = bus.timeoutMs, idleMs = STREAM_IDLE_MS, signal } = {}) {
    this.bus = bus;
    this.id = id;
    this.procedure = procedure;
    this.subject = `wirecall.${checkToken("device id", id)}.${checkToken("procedure name", procedure)}`;
    this.payload = payloadOf(args);
    this.timeoutMs = timeoutMs;
    this.idleMs = idleMs;
    this.signal = signal;
    this.count = null;
    let settle;
    this.result = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    this.result.catch(() => {}); // read only by those who want it
    this.#final = settle;
  }

  #open() {
    if (this.signal?.aborted) {
      this.#error = new Cancelled(`${this.procedure} was cancelled before it was sent`);
      this.#end(false);
      throw this.#error;
    }
    const { reply, drop } = this.bus.route((msg) => { this.#queue.push(msg); this.#wake?.(); }, (e) => {
      this.#error ??= e;
      this.#end(false);
    }, this.subject);
    this.#reply = reply;
    this.#drop = drop;
    this.#deadline = performance.now() + this.timeoutMs + GRACE_MS;
    try {
      this.bus.nc.publish(this.subject, this.payload, { reply, headers: this.bus.headers(this.timeoutMs) });
    } catch (e) {
      this.#error = e instanceof RangeError ? e : new ConnectionLost(`cannot send to NATS: ${e?.message ?? e}`);
      this.#end(false);
      throw this.#error;
    }
    if (this.signal) {
      this.#onAbort = () => this.cancel(new Cancelled(`${this.procedure} was cancelled (the gateway was sent a cancel)`));
      this.signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  #end(cancel) {
    this.#ended = true;
    if (this.#error) this.#final.reject(this.#error);
    this.#drop?.();
    if (this.#onAbort) this.signal.removeEventListener("abort", this.#onAbort);
    if (cancel && this.#reply !== null) this.bus.cancel(this.subject, this.#reply);
    this.#wake?.();
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The next item: `{value, done}`; throws the stream's error if it failed. */
  async next() {
    if (this.#reply === null && !this.#ended) this.#open();
    for (;;) {
      if (this.#error) throw this.#error;
      if (this.#ended && this.#queue.length === 0) return { value: undefined, done: true };
      if (this.#queue.length === 0) {
        const wait = Math.max(0, Math.min(this.idleMs, this.#deadline - performance.now()));
        let timer;
        const came = await new Promise((resolve) => {
          this.#wake = () => resolve(true);
          timer = setTimeout(() => resolve(false), wait);
        });
        clearTimeout(timer);
        this.#wake = null;
        if (!came && this.#queue.length === 0 && !this.#ended) {
          this.#error = new Timeout(`${this.subject}: no item within ${wait} ms (the gateway was sent a cancel)`);
          this.#end(true);
        }
        continue;
      }
      const msg = this.#queue.shift();
      const item = msg.headers?.get(ITEM_HEADER);
      if (item) {
        this.#items += 1;
        if (item.trim() !== String(this.#items)) {
          // Core NATS drops messages for a slow consumer: say so rather than skip.
          this.#error = new WirecallError(`${this.subject}: item ${this.#items} was lost on the bus (the next was ${item})`);
          this.#end(true);
          continue;
        }
        return { value: decode(msg.data), done: false };
      }
      const end = msg.headers?.get(END_HEADER);
      if (end) {
        this.count = /^\s*\d+\s*$/.test(end) ? Number.parseInt(end, 10) : null;
        if (this.count === null) {
          this.#error = new WirecallError(`${this.subject}: the stream's end says ${JSON.stringify(end)} items, not a number`);
        } else if (this.count !== this.#items) {
          this.#error = new WirecallError(`${this.subject}: the gateway sent ${this.count} items, ${this.#items} arrived`);
        } else {
          try {
            // The procedure's final value, if the gateway sent one (mostly `()`: null).
            this.#final.resolve(msg.data.length > 0 ? decode(msg.data) : null);
          } catch (e) {
            this.#error = e;
          }
        }
      } else if (isNoResponders(msg)) {
        this.#error = await this.bus.nobodyServes(this.id, this.procedure);
      } else {
        this.#error = errorOf(msg)
          ?? new WirecallError(`${this.procedure} is not a server stream (it answered once): await it instead`);
      }
      this.#end(false);
      if (!this.#error) return { value: undefined, done: true };
    }
  }

  /** Leaving a loop early: cancels the stream if it is still running. */
  async return() {
    if (!this.#ended) this.cancel();
    return { value: undefined, done: true };
  }

  /** Cancels the stream: the gateway is sent the cancel; the stream ends with `error`. */
  cancel(error = new Cancelled(`${this.procedure} was cancelled`)) {
    if (this.#ended) return;
    this.#error = error;
    this.#queue.length = 0;
    this.#end(this.#reply !== null);
  }

  /** Every item, collected (for short streams). */
  async toArray() {
    const out = [];
    for await (const x of this) out.push(x);
    return out;
  }
}

/**
 * `dev.NAME(...args)`: awaited, a call; iterated (`for await`), a server stream. Nothing is
 * sent before either.
 */
export class NatsInvocation {
  constructor(device, procedure, args) {
    this.device = device;
    this.procedure = procedure;
    this.args = args;
    this.promise = null;
  }

  #call() {
    this.promise ??= this.device.call(this.procedure, ...this.args);
    return this.promise;
  }

  then(onFulfilled, onRejected) {
    return this.#call().then(onFulfilled, onRejected);
  }

  catch(onRejected) {
    return this.#call().catch(onRejected);
  }

  finally(onFinally) {
    return this.#call().finally(onFinally);
  }

  [Symbol.asyncIterator]() {
    return this.device.stream(this.procedure, ...this.args);
  }
}

/** The JSON arguments of `dev.add(2, 3)`, `dev.add([2, 3])`, `dev.add({a: 2, b: 3})`,
 * `dev.echo("hi")`: as the JavaScript Device takes them. */
function argsOf(args) {
  return args.length === 1 ? args[0] : args;
}

/** A device on the bus: methods by procedure name (a Proxy), plus `call`, `stream`, `with`,
 * `info`. */
function natsDevice(bus, id, defaults) {
  const base = {
    bus,
    id,
    defaults,
    /** This device with other call defaults (`timeoutMs`, `signal`). */
    with: (more) => natsDevice(bus, id, { ...defaults, ...more }),
    /** Calls `name` with the arguments as `dev.NAME(...)` takes them. */
    call: (name, ...args) => bus.call(id, name, argsOf(args), defaults),
    /** The server stream `name`, with the defaults' `timeoutMs`, `signal` and `idleMs`. */
    stream: (name, ...args) => bus.stream(id, name, argsOf(args), defaults),
    /** What a gateway says of this device, or null. */
    info: () => bus.deviceInfo(id),
  };
  return new Proxy(base, {
    get(target, name) {
      if (typeof name !== "string" || name in target || name === "then") return target[name];
      return (...args) => new NatsInvocation(target, name, args);
    },
  });
}
