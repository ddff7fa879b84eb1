// A link over a WebSocket (the browser's, or Node's global one): each binary message is a
// piece of the wirecall byte stream, split anywhere (as `wirecall serve --ws` and
// `wirecall web` send and take it).
//
// A WebSocket has no read-side flow control: messages arrive whether or not this side can
// take them. While the Peer pauses the link, messages wait here up to a byte bound, and a
// peer that sends past it loses the link with a LinkError that says so, instead of an
// unbounded queue. On the write side, `bufferedAmount` is the only signal: write() answers
// false above the high-water mark, and a short timer, running only while above it, polls
// for the drain (a WebSocket fires no event when its buffer empties).

import { deviceOver } from "../device.js";
import { LinkError } from "../errors.js";

/** Bytes buffered for sending above which write() answers false (wait for drain). */
export const WS_HIGH_WATER = 64 * 1024;

/** Bytes received while paused above which the link is closed (see the file's comment). */
export const WS_MAX_PAUSED = 1024 * 1024;

/** How often bufferedAmount is looked at while it is above the high-water mark. */
const DRAIN_POLL_MS = 5;

/** Why a WebSocket closed, as text: its code and the reason the other side sent. */
function closeText(event) {
  const reason = event?.reason ? `: ${event.reason}` : "";
  const code = event?.code;
  if (code === 1006) return `the connection failed or dropped (code 1006, no close frame)${reason}`;
  return `the connection closed (code ${code ?? "?"})${reason}`;
}

/**
 * Opens a WebSocket to `url` (`ws://` or `wss://`) and resolves, once it is open, with a
 * link (see peer.js) over it; rejects with a LinkError naming the URL and, where the
 * server sent one, its close code and reason. Options: `highWater` (bytes, default 64 KiB),
 * `maxPaused` (bytes held while paused, default 1 MiB), `protocols`. Needs
 * `globalThis.WebSocket` (every browser; Node 22, or Node 20 with `--experimental-websocket`).
 */
export function webSocketLink(url, options = {}) {
  const WS = globalThis.WebSocket;
  if (typeof WS !== "function") {
    return Promise.reject(new LinkError(
      `cannot connect to ${url}: this JavaScript runtime has no WebSocket (Node 22 or later, or Node 20 with --experimental-websocket)`));
  }
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WS(url, options.protocols);
    } catch (e) {
      reject(new LinkError(`cannot connect to ${url}: ${e.message}`));
      return;
    }
    ws.binaryType = "arraybuffer";
    // A failed connect fires `error` (with no detail in browsers) and then `close`, which
    // carries the code and any reason: the rejection waits for the close to report both.
    let errorText = "";
    const onError = (e) => {
      errorText = e?.message || e?.error?.message || "";
      // Node 20's WebSocket fires `error` and no `close` (it stays CONNECTING): there is no
      // reason to wait for, so the error alone is reported.
      if (ws.readyState === 0) {
        cleanup();
        reject(new LinkError(`cannot connect to ${url}: ${errorText || "the connection failed"}`));
      }
    };
    const onClose = (e) => {
      cleanup();
      const why = closeText(e);
      reject(new LinkError(`cannot connect to ${url}: ${errorText ? `${errorText}; ` : ""}${why}`));
    };
    const onOpen = () => {
      cleanup();
      resolve(new WebSocketLink(ws, url, options));
    };
    const cleanup = () => {
      ws.removeEventListener("open", onOpen);
      ws.removeEventListener("error", onError);
      ws.removeEventListener("close", onClose);
    };
    ws.addEventListener("open", onOpen);
    ws.addEventListener("error", onError);
    ws.addEventListener("close", onClose);
  });
}

/**
 * Connects to the wirecall peer at WebSocket `url` and returns a Device bound to its
 * manifest. A server that takes the WebSocket and closes it before the handshake (as
 * `wirecall web --to` does when it cannot open its own link) gives a LinkError with the
 * reason it sent. Options: those of deviceOver, and the link's `highWater`, `maxPaused`,
 * `protocols`.
 */
export async function connectWebSocket(url, options = {}) {
  const { highWater, maxPaused, protocols, ...rest } = options;
  const link = await webSocketLink(url, { highWater, maxPaused, protocols });
  try {
    return await deviceOver(link, rest);
  } catch (e) {
    if (link.closedBecause) throw new LinkError(`cannot connect to ${url}: ${link.closedBecause}`);
    throw e;
  }
}

/** The link over an open WebSocket (made by webSocketLink). */
export class WebSocketLink {
  constructor(ws, url, options = {}) {
    this.ws = ws;
    this.name = url;
    this.highWater = options.highWater ?? WS_HIGH_WATER;
    this.maxPaused = options.maxPaused ?? WS_MAX_PAUSED;
    this.handlers = null;
    this.ended = false;
    this.endError = null;
    // Paused until start(): a message that comes before the Peer is there waits for it.
    this.paused = true;
    /** Messages received while paused, in order, and their total size (bounded). */
    this.held = [];
    this.heldBytes = 0;
    this.flushing = false;
    this.drainTimer = null;
    /** Why the WebSocket closed (its code and reason), once it did. */
    this.closedBecause = null;
    ws.addEventListener("message", (e) => this.#message(e.data));
    ws.addEventListener("close", (e) => {
      // Kept for connect(), which reports a close before the session came up (a server
      // that cannot reach the device closes at once, with the reason) as a LinkError.
      this.closedBecause = closeText(e);
      // A close the other side began with 1000 (normal) is a plain end; anything else
      // says why, so that the Peer's ConnectionLost carries it.
      this.#end(e.code === 1000 ? null : new LinkError(`${this.name}: ${this.closedBecause}`));
    });
  }

  start(handlers) {
    this.handlers = handlers;
    if (this.ended) {
      // It closed before the Peer was there: the Peer hears it from a task of its own.
      queueMicrotask(() => handlers.close(this.endError));
      return;
    }
    this.resume();
  }

  #message(data) {
    if (this.ended) return;
    if (typeof data === "string") {
      this.#fail(new LinkError(`${this.name}: the peer sent a text message (wirecall uses binary messages)`));
      return;
    }
    const bytes = new Uint8Array(data);
    if (this.paused || this.held.length > 0) {
      this.heldBytes += bytes.length;
      if (this.heldBytes > this.maxPaused) {
        this.#fail(new LinkError(`${this.name}: the peer sent more than ${this.maxPaused} bytes while this side could not take them`));
        return;
      }
      this.held.push(bytes);
      return;
    }
    this.handlers.data(bytes);
  }

  write(bytes) {
    if (this.ended) return true;
    this.ws.send(bytes);
    if (this.ws.bufferedAmount <= this.highWater) return true;
    this.#watchDrain();
    return false;
  }

  #watchDrain() {
    if (this.drainTimer !== null) return;
    this.drainTimer = setInterval(() => {
      if (this.ended) return this.#stopDrain();
      if (this.ws.bufferedAmount > this.highWater) return;
      this.#stopDrain();
      this.handlers.drain();
    }, DRAIN_POLL_MS);
  }

  #stopDrain() {
    if (this.drainTimer !== null) clearInterval(this.drainTimer);
    this.drainTimer = null;
  }

  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
    // Held messages go out from a task of their own: resume() is called from inside the
    // Peer's loop, which must not be re-entered with new input.
    if (this.held.length > 0 && !this.flushing) {
      this.flushing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush() {
    this.flushing = false;
    while (!this.paused && !this.ended && this.held.length > 0) {
      const bytes = this.held.shift();
      this.heldBytes -= bytes.length;
      this.handlers.data(bytes);
    }
  }

  #fail(error) {
    try {
      // Scripts may close with 1000 or 3000-4999 only: 4000 is "this side gave up".
      this.ws.close(4000, "wirecall: link error");
    } catch {
      // Already closing.
    }
    this.#end(error);
  }

  #end(error) {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    this.#stopDrain();
    this.held = [];
    this.heldBytes = 0;
    this.handlers?.close(error);
  }

  close() {
    this.ended = true;
    this.#stopDrain();
    this.held = [];
    try {
      this.ws.close(1000);
    } catch {
      // Already closing.
    }
  }
}
