// Links of Node: TCP, Unix sockets, child processes and serial ports, each one a byte
// stream with the face a Peer drives: start({data, close, drain}), write(bytes) (false:
// wait for drain), pause(), resume(), close(), name.

import net from "node:net";
import { spawn } from "node:child_process";
import { LinkError } from "../errors.js";
import { parseLinkUrl } from "../url.js";

/** A link over a readable and a writable Node stream (one duplex, or a child's pipes). */
export class StreamLink {
  constructor(name, readable, writable, closer) {
    this.name = name;
    this.readable = readable;
    this.writable = writable;
    this.closer = closer;
    this.handlers = null;
    this.ended = false;
    // From the start, so that an error before start() (a reset while the caller is still
    // setting up) is kept for it, not thrown out of the process as an unhandled 'error'.
    this.early = null;
    const keep = (e) => { this.early ??= e; };
    readable.on("error", keep);
    if (writable !== readable) writable.on("error", keep);
  }

  start(handlers) {
    this.handlers = handlers;
    const closed = (error) => {
      if (this.ended) return;
      this.ended = true;
      handlers.close(error ?? null);
    };
    if (this.early) queueMicrotask(() => closed(this.early));
    this.readable.on("data", (b) => handlers.data(new Uint8Array(b.buffer, b.byteOffset, b.length)));
    this.readable.on("end", () => closed(null));
    this.readable.on("close", () => closed(null));
    this.readable.on("error", (e) => closed(e));
    this.writable.on("drain", () => handlers.drain());
    if (this.writable !== this.readable) this.writable.on("error", (e) => closed(e));
  }

  write(bytes) {
    if (this.ended) return true;
    return this.writable.write(bytes);
  }

  pause() {
    this.readable.pause();
  }

  resume() {
    this.readable.resume();
  }

  close() {
    this.ended = true;
    this.closer();
  }
}

function cause(e) {
  const known = {
    ECONNREFUSED: "connection refused", ENOENT: "no such file or directory",
    EACCES: "permission denied", ETIMEDOUT: "timed out", EHOSTUNREACH: "host unreachable",
  };
  return known[e.code] ?? e.message;
}

/** Connects a socket (`net.connect` options), rejecting with a LinkError naming `what`. */
function socket(options, what) {
  return new Promise((resolve, reject) => {
    const s = net.connect(options);
    const failed = (e) => reject(new LinkError(`cannot connect to ${what}: ${cause(e)}`));
    s.once("error", failed);
    s.once("connect", () => {
      s.off("error", failed);
      s.setNoDelay?.(true);
      resolve(new StreamLink(what, s, s, () => s.destroy()));
    });
  });
}

/** A TCP connection (no Nagle delay: wirecall frames are small and latency matters). */
export function tcpLink(host, port) {
  return socket({ host, port }, `tcp ${host.includes(":") ? `[${host}]` : host}:${port}`);
}

/** A Unix socket. */
export function unixLink(path) {
  return socket({ path }, `unix ${path}`);
}

/** Children still running, killed if this process exits first (no process left behind). */
const children = new Set();
process.once("exit", () => {
  for (const child of children) killGroup(child);
});

function killGroup(child) {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * A child process, started as `sh -c COMMAND` in a process group of its own, over its
 * stdin and stdout (its stderr is this process's). Closing the link kills the group.
 */
export function execLink(command) {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], { stdio: ["pipe", "pipe", "inherit"], detached: true });
    child.once("error", (e) => reject(new LinkError(`cannot run ${command}: ${cause(e)}`)));
    child.once("spawn", () => {
      children.add(child);
      child.once("exit", () => children.delete(child));
      // A write to a child that exited must not throw out of the process.
      child.stdin.on("error", () => {});
      resolve(new StreamLink(`exec ${command}`, child.stdout, child.stdin, () => {
        child.stdin.destroy();
        child.stdout.destroy();
        killGroup(child);
      }));
    });
  });
}

/**
 * A serial port, 8N1, through the `serialport` package (loaded only when a port is
 * opened, so that other links work without its native module).
 */
export async function serialLink(path, baud) {
  let SerialPort;
  try {
    ({ SerialPort } = await import("serialport"));
  } catch (e) {
    throw new LinkError(`cannot open serial ${path}: the serialport package is not installed (npm install serialport): ${e.message}`);
  }
  const port = new SerialPort({ path, baudRate: baud, autoOpen: false });
  await new Promise((resolve, reject) => {
    port.open((e) => (e ? reject(new LinkError(`cannot open serial ${path} at ${baud} baud: ${e.message}`)) : resolve()));
  });
  return new StreamLink(`serial ${path} at ${baud} baud`, port, port, () => {
    if (port.isOpen) port.close(() => {});
  });
}

/** Opens the link a URL names (tcp://, unix:, serial://, exec:). */
export async function openLink(url) {
  const u = parseLinkUrl(url);
  switch (u.kind) {
    case "tcp": return tcpLink(u.host, u.port);
    case "unix": return unixLink(u.path);
    case "exec": return execLink(u.command);
    case "serial": return serialLink(u.path, u.baud);
    default: {
      const { webSocketLink } = await import("./web.js");
      return webSocketLink(u.url);
    }
  }
}
