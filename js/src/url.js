// Link URLs: the one way the project names links (as adapters/src/host/url.rs, the command
// line and the Python package do).
//
//   tcp://HOST:PORT                      a TCP connection ([IPv6] in brackets)
//   unix:///abs/path, unix:rel/path      a Unix socket
//   serial:///dev/ttyUSB0?baud=115200    a serial port, 8N1 (baud defaults to 115200)
//   exec:COMMAND LINE                    a child process (sh -c), over its stdin and stdout
//   ws://HOST:PORT/PATH, wss://...       a WebSocket (browsers and Node)
//
// Everything after `exec:` is the command line, verbatim; paths are taken verbatim too.

import { LinkError } from "./errors.js";

/** The baud rate of a `serial:` URL that names none. */
export const DEFAULT_BAUD = 115200;

function bad(url, reason) {
  return new LinkError(`bad link URL \`${url}\`: ${reason}`);
}

/**
 * Parses a link URL into `{kind, ...}`: `{kind: "tcp", host, port}`, `{kind: "unix",
 * path}`, `{kind: "serial", path, baud}`, `{kind: "exec", command}`, `{kind: "ws", url}`.
 * Throws a LinkError that says what is wrong. `options.listening`: the URL is one to listen
 * on, where TCP port 0 means any free port.
 */
export function parseLinkUrl(url, options = {}) {
  if (typeof url !== "string") throw bad(String(url), "a link URL is a string");
  if (url.startsWith("tcp://")) {
    const rest = url.slice(6);
    const m = /^(\[[^\]]+\]|[^:/\[\]]+):(\d+)$/.exec(rest);
    if (!m) {
      if (!/:\d+$/.test(rest)) throw bad(url, "no port (tcp://HOST:PORT)");
      throw bad(url, "expected tcp://HOST:PORT");
    }
    const port = Number(m[2]);
    const least = options.listening ? 0 : 1;
    if (port < least || port > 65535) throw bad(url, `port ${m[2]} is not ${least} to 65535`);
    return { kind: "tcp", host: m[1].replace(/^\[|\]$/g, ""), port };
  }
  if (url.startsWith("unix:")) {
    const path = url.startsWith("unix://") ? url.slice(7) : url.slice(5);
    if (!path) throw bad(url, "no path (unix:///abs/path or unix:rel/path)");
    return { kind: "unix", path };
  }
  if (url.startsWith("serial://")) {
    const rest = url.slice(9);
    const q = rest.indexOf("?");
    const path = q < 0 ? rest : rest.slice(0, q);
    if (!path) throw bad(url, "no port path (serial:///dev/ttyUSB0?baud=115200)");
    let baud = DEFAULT_BAUD;
    if (q >= 0) {
      for (const pair of rest.slice(q + 1).split("&")) {
        const [k, v] = pair.split("=");
        if (k !== "baud") throw bad(url, `unknown parameter ${k} (only baud)`);
        if (!/^\d+$/.test(v ?? "") || Number(v) < 1) throw bad(url, `baud ${v} is not a positive whole number`);
        baud = Number(v);
      }
    }
    return { kind: "serial", path, baud };
  }
  if (url.startsWith("exec:")) {
    const command = url.slice(5);
    if (!command.trim()) throw bad(url, "no command (exec:COMMAND LINE)");
    return { kind: "exec", command };
  }
  if (url.startsWith("ws://") || url.startsWith("wss://")) {
    return { kind: "ws", url };
  }
  throw bad(url, "expected tcp://, unix:, serial://, exec: or ws://");
}
