// Serving a Service on one link: a Peer whose engine serves the service's manifest, with
// the requests it admits run by serving.js. Works on any link (a socket, a child's pipes,
// stdio, a WebSocket): the Node listener (listen.js) calls it for each connection.

import { Peer, now } from "./peer.js";
import { wasm } from "./wasm.js";
import { Session, MAX_CALLS } from "./serving.js";

/** The engine's keepalive when the options give none (the core's default). */
const KEEPALIVE_MS = 1000;

/** Session ends after which the link is closed: the peer said so, or went silent. */
const ENDING = new Set(["peer_closed", "idle", "protocol_violation", "incompatible", "local_close"]);

/**
 * Serves `service` on `link` (see peer.js for what a link is): one session, until the link
 * ends, the peer closes the session or goes silent past its keepalive, no handshake comes
 * within `handshakeTimeoutMs`, or `signal` aborts. Resolves then, once every handler it
 * started has returned too, with the error that
 * ended it or null. Options: `maxCalls` (calls served at once, 1 to 32, default 32: one
 * more is answered Busy), `onError(error, procedure)` (a handler threw something that is
 * no RemoteError: it was answered Internal), `handshakeTimeoutMs` (default three
 * keepalives), `signal` (an AbortSignal: closes the session), and the engine's options
 * (`maxFrame`, `keepaliveMs`, `callTimeoutMs`, `streamWindow`, `frameTimeoutMs`).
 */
export function serve(link, service, options = {}) {
  const { engine, maxCalls, onError, signal, handshakeMs } = sessionOptions(service, options);
  let session = null;
  const peer = new Peer(link, {
    engine,
    onRequest: (_, e) => session.admit(e),
    // Closed outside the Peer's loop, which is running when it reports the end.
    onDisconnect: (e) => { if (ENDING.has(e.reason)) queueMicrotask(() => peer.close()); },
  });
  session = new Session(peer, service, { maxCalls, onError });
  const timer = setTimeout(() => { if (!peer.info) peer.close(); }, handshakeMs);
  peer.ready().then(() => clearTimeout(timer), () => {});
  const stop = () => peer.close();
  if (signal?.aborted) stop();
  else signal?.addEventListener("abort", stop, { once: true });
  // Ends when the session has ended and its last handler returned: a listener counts this
  // connection until then, so handlers that ignore their signal stay within its bounds.
  return peer.done().then(async (error) => {
    await session.idle();
    return error;
  }).finally(() => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  });
}

/**
 * The options of `serve` sorted out: the engine's (with the manifest), the session's.
 * Throws what the engine would refuse (an unknown option, a limit out of range), so that a
 * listener fails when it starts rather than at its first connection.
 */
export function checkedOptions(service, options = {}) {
  const sorted = sessionOptions(service, options);
  new (wasm().Engine)(now(), sorted.engine).free();
  return sorted;
}

function sessionOptions(service, options) {
  const { maxCalls = MAX_CALLS, onError, signal, handshakeTimeoutMs, ...engine } = options;
  const schema = service.schema; // fixes the manifest: a declaration error throws here
  return {
    engine: { ...engine, maxCalls, manifest: schema.bytes() },
    maxCalls,
    onError,
    signal,
    handshakeMs: handshakeTimeoutMs ?? 3 * (engine.keepaliveMs ?? KEEPALIVE_MS),
  };
}
