// Serving the requests of one session: admitting each (UnknownProcedure, a mode that does
// not match, Busy, BadArguments), running its handler, and answering it, with the items
// of its streams moving as the caller's credit allows.
//
// How a handler is called: `handler(...args, [items], context)`, also with `this` set to
// the context (so arrow functions and plain functions both get it):
// - `args`: the decoded arguments, positionally, in the declared order. Byte sequences
//   (`Vec<u8>`, `[u8; N]`) are Uint8Arrays; integers beyond 2^53 are BigInts.
// - `items` (client and bidirectional streams): the caller's items, decoded, as an async
//   iterable; each is acknowledged to the caller (its credit) when the handler takes it.
// - `context`: `{signal, procedure, peer}`: an AbortSignal that aborts when the request ends
//   before its answer (cancelled, deadline, connection lost; its `reason` says which), the
//   procedure's name, and the caller's Hello (`maxFrame`, ...).
// It returns the output (or a promise of it). A server stream's handler returns an
// iterable or async iterable (write a generator function): its items are sent as the
// caller's credit allows, and a generator's return value is the final output.

import { Signal } from "./device.js";
import { converter } from "./bytes.js";
import {
  Cancelled, ConnectionLost, ErrorCode, RemoteError, Timeout, TooLarge, WirecallError,
} from "./errors.js";

/** The calls one session serves at once, by default (the engine's most). */
export const MAX_CALLS = 32;

const MODE_TEXT = {
  "client stream": "client stream", "server stream": "server stream",
  "bidi stream": "bidirectional stream",
};

/** The error a handler's signal aborts with, for why its request ended. */
function endError(reason) {
  switch (reason) {
    case "cancelled": return new Cancelled("the caller cancelled the call");
    case "deadline_exceeded": return new Timeout("the call's deadline passed");
    case "connection_lost": return new ConnectionLost("the connection was lost");
    case "idle": return new Timeout("the stream idled past its limit");
    default: return new WirecallError(`the request ended (${reason.replace(/_/g, " ")})`);
  }
}

/** The wire error number of `code` (a number, or a name such as "BadArguments"). */
function codeOf(code) {
  if (typeof code === "string" && code in ErrorCode) return ErrorCode[code];
  if (Number.isInteger(code) && code >= 0 && code <= 255) return code;
  return null;
}

/**
 * The answer to what a handler threw: a RemoteError (or `{code, detail}`) is that wire
 * error; anything else is Internal with its message (`internal` true: a bug to report).
 */
export function wireError(e) {
  const code = e !== null && typeof e === "object" ? codeOf(e.code) : null;
  if (code !== null && (e instanceof RemoteError || !(e instanceof Error))) {
    return { code, detail: e.detail === undefined ? "" : String(e.detail), internal: false };
  }
  return { code: ErrorCode.Internal, detail: e instanceof Error ? e.message : String(e), internal: true };
}

/** The handlers of one session: admission and bookkeeping. */
export class Session {
  /** `options`: `maxCalls` (handlers running at once), `onError(error, procedure)`. */
  constructor(peer, service, options = {}) {
    this.peer = peer;
    this.service = service;
    this.schema = service.schema;
    this.maxCalls = options.maxCalls ?? MAX_CALLS;
    this.onError = options.onError ?? null;
    /** Handlers not yet returned, whether or not their request still runs. */
    this.running = 0;
    /** Who waits for `running` to come to 0 (`idle()`). */
    this.idleWaiters = [];
    /** procedure name -> converters of its arguments and items (bytes to Uint8Array). */
    this.converters = new Map();
  }

  /** A request arrived (called from the Peer's loop: nothing here may throw out of it). */
  admit(e) {
    try {
      this.#admit(e);
    } catch (error) {
      this.answerError(e.request, ErrorCode.Internal, `the server failed to start the call: ${error?.message ?? error}`);
    }
  }

  #admit(e) {
    const entry = this.service.lookup(e.procedure);
    if (!entry) {
      this.answerError(e.request, ErrorCode.UnknownProcedure,
        `no procedure ${e.procedure}; this service has ${this.service.listing()}`);
      return;
    }
    const p = entry.procedure;
    if (p.kind !== e.mode) {
      const detail = p.kind === "call" ? `${p.name} is not a stream: call it` : `${p.name} is a ${MODE_TEXT[p.kind]}: open it as one`;
      this.answerError(e.request, ErrorCode.BadArguments, detail);
      return;
    }
    // A handler outlives a cancelled request (JavaScript cannot stop it): counting the
    // handlers, not the requests, bounds what a peer that opens and cancels can start.
    if (this.running >= this.maxCalls) {
      this.answerError(e.request, ErrorCode.Busy, `${this.running} calls are being served, the most at once`);
      return;
    }
    let args;
    try {
      args = this.schema.decode("args", p.name, e.args);
    } catch (error) {
      this.answerError(e.request, ErrorCode.BadArguments, error.message);
      return;
    }
    const conv = this.#converters(p);
    const values = p.params.map((param, i) => (conv.params[i] ? conv.params[i](args[param.name]) : args[param.name]));
    this.running++;
    const served = new Served(this, e.request, p, entry.handler, values, conv.item);
    served.run().catch((error) => this.report(error, p.name)).finally(() => {
      this.running--;
      if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  #converters(p) {
    let c = this.converters.get(p.name);
    if (!c) {
      c = { params: p.params.map((param) => converter(param.type)), item: converter(p.in_item) };
      this.converters.set(p.name, c);
    }
    return c;
  }

  /** Tells `onError` of a handler's failure (a bug of the handler, not of the caller). */
  report(error, procedure) {
    try {
      this.onError?.(error, procedure);
    } catch {
      // A failing report must not end the session.
    }
  }

  /**
   * Sends answer `send()` (a Peer respond) to request `key`, waiting while the transmit
   * queue is full. Only while that request is still the one pending under its key: a key
   * is the slot and the peer's wire id, which a later request can carry again once this one
   * ended (cancelled, timed out), and an old answer must never reach it.
   */
  async answer(key, send) {
    const state = this.peer.requests.get(key);
    for (;;) {
      if (this.peer.closed || state === undefined || this.peer.requests.get(key) !== state) return;
      if (send()) return;
      this.peer.soon(); // the queue drains when the loop runs: make sure it will
      await this.peer.changed();
    }
  }

  /** Answers request `key` with wire error `code`; never throws. */
  answerError(key, code, detail) {
    this.answer(key, () => this.peer.respondError(key, code, detail)).catch(() => {});
  }

  /** Resolves once no handler of this session runs (each may outlive its request). */
  idle() {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** The caller's items on a served stream, decoded, as an async iterable. */
class Incoming {
  constructor(served, convert) {
    this.served = served;
    this.convert = convert;
    // Bounded by the engine: a caller gets credit for the window and no more until the
    // handler takes items; one past its credit breaks flow control and ends the call.
    this.queue = [];
    this.ended = false;
    this.error = null;
    this.taken = 0;
    this.changed = new Signal();
  }

  push(bytes) {
    this.queue.push(bytes);
    this.changed.fire();
  }

  end() {
    this.ended = true;
    this.changed.fire();
  }

  fail(error) {
    this.error = error;
    this.changed.fire();
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The next item; throws the request's end (Cancelled, ...) once it ended. */
  async next() {
    const { session, key, procedure } = this.served;
    for (;;) {
      if (this.error) throw this.error;
      if (this.queue.length > 0) {
        const bytes = this.queue.shift();
        session.peer.consumeRequest(key, 1);
        this.taken++;
        let value;
        try {
          value = session.schema.decode("in_item", procedure.name, bytes);
        } catch (e) {
          throw new RemoteError(ErrorCode.BadArguments, `item ${this.taken - 1}: ${e.message}`);
        }
        return { value: this.convert ? this.convert(value) : value, done: false };
      }
      if (this.ended) return { value: undefined, done: true };
      await this.changed.wait();
    }
  }

  /** Leaving a loop early: the items still coming are dropped with the request. */
  async return() {
    return { value: undefined, done: true };
  }
}

/** One request, from its handler's call to its answer. */
class Served {
  constructor(session, key, procedure, handler, values, convertItem) {
    this.session = session;
    this.key = key;
    this.procedure = procedure;
    this.handler = handler;
    this.values = values;
    this.controller = new AbortController();
    this.endedWith = null;
    this.credit = new Signal();
    this.incoming = procedure.in_item ? new Incoming(this, convertItem) : null;
  }

  async run() {
    const { peer } = this.session;
    const state = peer.requests.get(this.key);
    if (!state) return; // ended before it started
    state.ended = (reason) => this.#ended(reason);
    state.credit = () => this.credit.fire();
    if (this.incoming) {
      state.item = (bytes) => this.incoming.push(bytes);
      state.itemsEnded = () => this.incoming.end();
    }
    const context = { signal: this.controller.signal, procedure: this.procedure.name, peer: peer.info };
    const args = this.incoming ? [...this.values, this.incoming, context] : [...this.values, context];
    let output;
    try {
      const result = this.handler.apply(context, args);
      output = this.procedure.item ? await this.#stream(result) : await result;
    } catch (e) {
      if (this.endedWith) return;
      const { code, detail, internal } = wireError(e);
      if (internal) this.session.report(e, this.procedure.name);
      this.#fail(code, detail);
      return;
    }
    if (!this.endedWith) this.#reply(output);
  }

  #ended(reason) {
    this.endedWith = endError(reason);
    this.controller.abort(this.endedWith);
    this.incoming?.fail(this.endedWith);
    this.credit.fire();
  }

  #fail(code, detail) {
    this.session.answerError(this.key, code, detail);
  }

  #encode(part, value) {
    try {
      return this.session.schema.encode(part, this.procedure.name, value);
    } catch (e) {
      const what = part === "item" ? "an item" : "the result";
      throw new RemoteError(ErrorCode.Internal, `${what} does not fit its type: ${e.message}`);
    }
  }

  #reply(output) {
    const { peer } = this.session;
    let bytes;
    try {
      bytes = this.#encode("output", output);
    } catch (e) {
      this.#fail(e.code, e.detail);
      return;
    }
    this.session.answer(this.key, () => {
      try {
        return peer.respond(this.key, bytes);
      } catch (e) {
        if (!(e instanceof TooLarge)) throw e;
        this.#fail(ErrorCode.TooLarge, `the result of ${this.procedure.name} (${bytes.length} bytes) does not fit in a frame`);
        return true;
      }
    }).catch((e) => this.#fail(ErrorCode.Internal, e.message));
  }

  /** Sends the items of a stream handler's result; resolves with its final output. */
  async #stream(result) {
    if (result && typeof result.then === "function" && !iterable(result)) result = await result;
    if (!iterable(result)) {
      throw new TypeError(`${this.procedure.name}: a stream's handler returns an iterable (write a generator function)`);
    }
    const it = result[Symbol.asyncIterator] ? result[Symbol.asyncIterator]() : result[Symbol.iterator]();
    const { peer } = this.session;
    let finished = false;
    try {
      for (;;) {
        if (this.endedWith) throw this.endedWith;
        const step = await it.next();
        if (step.done) {
          finished = true;
          return step.value;
        }
        if (this.endedWith) throw this.endedWith;
        const bytes = this.#encode("item", step.value);
        try {
          await peer.sendReplyItem(this.key, bytes, () => this.#creditOrChange());
        } catch (e) {
          if (this.endedWith) throw this.endedWith;
          if (e instanceof TooLarge) {
            throw new RemoteError(ErrorCode.TooLarge, `an item of ${this.procedure.name} (${bytes.length} bytes) does not fit in a frame`);
          }
          throw e;
        }
      }
    } finally {
      // A generator stopped early (an error, the request ended) runs its finally blocks.
      if (!finished) await Promise.resolve(it.return?.()).catch(() => {});
    }
  }

  /** Credit came, the request ended, or the transmit queue drained: try sending again. */
  #creditOrChange() {
    return Promise.race([this.credit.wait(), this.session.peer.changed()]);
  }
}

function iterable(x) {
  return x !== null && x !== undefined && (typeof x[Symbol.asyncIterator] === "function" || typeof x[Symbol.iterator] === "function")
    && typeof x !== "string";
}
