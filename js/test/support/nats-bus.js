// A real NATS bus for the tests of wirecall/nats: `nats-server` on a port of its choosing,
// the Rust demo server, and `wirecall-gateway` serving it as device "demo". Each is waited
// for by the line it prints once ready and killed by its pid when the test ends.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { WIRECALL, onPath, serveDemo, start } from "./processes.js";

/** `wirecall-gateway`: $WIRECALL_GATEWAY_BIN, else beside the `wirecall` binary. */
export const GATEWAY = process.env.WIRECALL_GATEWAY_BIN ?? join(dirname(WIRECALL), "wirecall-gateway");

/** An upper bound on any one awaited event (a line, a reply, a message): never a sleep. */
export const EVENT_MS = 15000;

/** Why the NATS tests cannot run here, or null. */
export async function natsMissing() {
  const missing = [];
  if (!onPath("nats-server")) missing.push("nats-server is not on the PATH");
  if (!existsSync(GATEWAY)) missing.push(`${GATEWAY} is missing (cargo build -p wirecall-gateway, or set WIRECALL_GATEWAY_BIN)`);
  try {
    await import("nats");
  } catch {
    missing.push("the nats package is not installed (npm install nats)");
  }
  if (missing.length === 0) return null;
  const why = missing.join("; ");
  if (process.env.WIRECALL_REQUIRE_NATS === "1") throw new Error(`WIRECALL_REQUIRE_NATS=1, and ${why}`);
  return why;
}

/** Starts the bus for test `t`: resolves with the NATS URL once the gateway is ready. */
export async function startBus(t) {
  // `-p -1`: the server picks a free port and logs it, so no port is guessed.
  const { lines } = await start(t, "nats-server", ["-a", "127.0.0.1", "-p", "-1"], /Server is ready/);
  const listening = lines.map((l) => l.split("Listening for client connections on ")[1]).find(Boolean);
  if (!listening) throw new Error(`nats-server said no port: ${lines.join(" | ")}`);
  const url = `nats://${listening.trim()}`;
  const { address } = await serveDemo(t, "--tcp", "127.0.0.1:0");
  await start(t, GATEWAY, ["--nats", url, "--device", `demo=tcp://${address.replace(/^tcp /, "")}`],
    /wirecall-gateway: ready/);
  return url;
}

/** A plain NATS connection that watches the bus: `watch(subject)` subscribes (on the
 * server before it resolves) and returns `next()`, the next message within EVENT_MS. */
export async function spyOn(t, url) {
  const { connect } = await import("nats");
  const nc = await connect({ servers: url });
  t.after(() => nc.close());
  return {
    nc,
    async watch(subject) {
      const sub = nc.subscribe(subject);
      await nc.flush();
      const it = sub[Symbol.asyncIterator]();
      return {
        async next() {
          let timer;
          const late = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no message on ${subject} in ${EVENT_MS} ms`)), EVENT_MS);
          });
          try {
            const { value } = await Promise.race([it.next(), late]);
            return value;
          } finally {
            clearTimeout(timer);
          }
        },
      };
    },
    /** The gateway's `$SRV.STATS` entry of the endpoint on `subject`. */
    async stats(subject) {
      const msg = await nc.request("$SRV.STATS.wirecall-demo", new Uint8Array(0), { timeout: EVENT_MS });
      const entry = JSON.parse(new TextDecoder().decode(msg.data)).endpoints.find((e) => e.subject === subject);
      if (!entry) throw new Error(`no endpoint ${subject} in $SRV.STATS`);
      return entry;
    },
  };
}
