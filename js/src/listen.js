// Serving in Node: on this process's stdin and stdout (a child process of a wirecall
// host), and on a TCP or Unix socket listener, each connection a session of its own.

import fs from "node:fs";
import net from "node:net";
import { StreamLink } from "./links/node.js";
import { LinkError, ErrorCode } from "./errors.js";
import { parseLinkUrl } from "./url.js";
import { serve, checkedOptions } from "./serve.js";
import { now } from "./peer.js";
import { wasm } from "./wasm.js";

/** Connections served at once by a listener, by default (as the Rust and Python servers). */
export const MAX_CONNECTIONS = 256;

/**
 * Serves `service` on this process's stdin and stdout until stdin ends: what
 * `wirecall call --exec "node server.js" add '[2, 3]'` and Rust's `Link::spawn` talk to.
 * While it serves, `console.log` (and info, debug) write to stderr, so that nothing but
 * frames reaches stdout. Options as `serve`. Resolves when the session ends.
 */
export async function serveStdio(service, options = {}) {
  const { stdin, stdout } = process;
  const link = new StreamLink("stdio", stdin, stdout, () => stdin.destroy());
  const saved = { log: console.log, info: console.info, debug: console.debug };
  console.log = console.info = console.debug = console.error;
  try {
    return await serve(link, service, options);
  } finally {
    Object.assign(console, saved);
  }
}

/** The frame that turns a connection away: Close(Busy), alone (no Hello before it). */
function closeBusyFrame() {
  const engine = new (wasm().Engine)(now(), {});
  try {
    engine.pollTransmit(); // its Hello, not sent
    engine.closeWith(ErrorCode.Busy);
    return engine.pollTransmit();
  } finally {
    engine.free();
  }
}

/** How long a closed connection may take to flush its last bytes (a Close) before it is cut. */
const LINGER_MS = 1000;

/** Ends `socket` after its last bytes (`last`, if given) are written, within LINGER_MS. */
function closeSoon(socket, last = undefined) {
  socket.end(last);
  // A peer that does not read would hold the socket open: it is cut after a while.
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** Removes a Unix socket nobody listens on (left by a server that stopped); else throws. */
async function clearStaleSocket(path) {
  if (!fs.existsSync(path)) return;
  if (!fs.statSync(path).isSocket()) throw new LinkError(`cannot listen on unix ${path}: it exists and is not a socket`);
  const alive = await new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once("connect", () => { probe.destroy(); resolve(true); });
    probe.once("error", (e) => resolve(e.code !== "ECONNREFUSED" ? e : false));
  });
  if (alive === false) fs.unlinkSync(path);
  else throw new LinkError(`cannot listen on unix ${path}: ${alive === true ? "a server is listening there" : alive.message}`);
}

/** A listening socket serving each connection; made by `listen`. */
export class Listener {
  constructor(server) {
    this.server = server;
    /** Sessions being served: their AbortControllers. */
    this.sessions = new Set();
    /** Connections turned away at the limit. */
    this.refused = 0;
    const address = server.address();
    if (typeof address === "string") {
      this.path = address;
      this.address = address;
      this.url = `unix://${address}`;
    } else {
      this.host = address.address;
      this.port = address.port;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      this.address = `${host}:${address.port}`;
      this.url = `tcp://${this.address}`;
    }
    this.closing = null;
  }

  /** Connections served now. */
  get connections() {
    return this.sessions.size;
  }

  /** Stops accepting and closes every session (each peer is sent a Close); resolves once closed. */
  close() {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const session of this.sessions) session.abort();
    }).then(() => {
      if (this.path) fs.rmSync(this.path, { force: true });
    });
    return this.closing;
  }
}

/**
 * Listens on `tcp://HOST:PORT` (port 0: any free port) or `unix:PATH` and serves `service`
 * on every connection, each its own session. At most `maxConnections` (default 256) at
 * once: one more is sent Close(Busy) and closed. A stale Unix socket is replaced. Other
 * options as `serve` (each session's). Resolves, once listening, with a Listener: `url`,
 * `address`, `host` and `port` (or `path`), `connections`, `refused` and `close()`.
 */
export async function listen(url, service, options = {}) {
  const { maxConnections = MAX_CONNECTIONS, ...serveOptions } = options;
  const u = parseLinkUrl(url, { listening: true });
  if (u.kind !== "tcp" && u.kind !== "unix") throw new LinkError(`cannot listen on ${url}: listen on tcp:// or unix:`);
  checkedOptions(service, serveOptions); // a declaration or option error throws now
  if (u.kind === "unix") await clearStaleSocket(u.path);
  const busy = closeBusyFrame();
  let listener = null;
  const server = net.createServer((socket) => {
    socket.on("error", () => {}); // a peer's reset ends its session, never the process
    if (listener.closing || listener.sessions.size >= maxConnections) {
      listener.refused++;
      socket.resume(); // whatever it sends is dropped
      closeSoon(socket, busy);
      return;
    }
    socket.setNoDelay(true);
    const controller = new AbortController();
    listener.sessions.add(controller);
    const link = new StreamLink(`${u.kind} connection`, socket, socket, () => closeSoon(socket));
    let served;
    try {
      served = serve(link, service, { ...serveOptions, signal: controller.signal });
    } catch {
      // The options were checked when listening: nothing else throws here, but a throw
      // must cost this connection only.
      served = Promise.resolve();
      link.close();
    }
    served.catch(() => {}).finally(() => listener.sessions.delete(controller));
  });
  await new Promise((resolve, reject) => {
    server.once("error", (e) => reject(new LinkError(`cannot listen on ${url}: ${e.message}`)));
    server.listen(u.kind === "tcp" ? { host: u.host, port: u.port } : { path: u.path }, resolve);
  });
  server.on("error", () => {});
  listener = new Listener(server);
  return listener;
}
