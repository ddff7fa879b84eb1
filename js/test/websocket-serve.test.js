// The WebSocket link against the real thing: `wirecall serve --ws` (the demo service) and
// `wirecall web --to` (a bridge whose far link cannot open). Needs globalThis.WebSocket:
// where the runtime has none (Node 20 without --experimental-websocket) this file runs
// itself again in a child with that flag, so that `node --test test/` skips nothing.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ConnectionLost, LinkError, connect } from "../src/node.js";
import { REPO, WIRECALL, qemuArgs, requireFirmware, serveDemo, start, stop, tempDir } from "./support/processes.js";

const JS_DIR = `${REPO}js`;

if (typeof globalThis.WebSocket !== "function") {
  test("the WebSocket tests, in a child with --experimental-websocket (Node 20)", async () => {
    // Without the runner's own variable, the child reports in TAP as a run of its own.
    const { NODE_TEST_CONTEXT, ...env } = process.env;
    void NODE_TEST_CONTEXT;
    const child = spawn(process.execPath,
      ["--experimental-websocket", "--test", "--test-reporter=tap", fileURLToPath(import.meta.url)],
      { stdio: ["ignore", "pipe", "pipe"], env });
    let out = "";
    child.stdout.on("data", (b) => { out += b; });
    child.stderr.on("data", (b) => { out += b; });
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 0, out);
    assert.match(out, /^# fail 0$/m, out);
    // The firmware test skips only where firmware may be missing (not under ci.sh, whose
    // WIRECALL_REQUIRE_FIRMWARE=1 makes a missing firmware a failure).
    assert.match(out, /^# pass 4$|^# skipped 1$/m, out);
  });
} else {
  test("calls and a server stream over wirecall serve --ws", async (t) => {
    const { child, address } = await serveDemo(t, "--ws", "127.0.0.1:0");
    const dev = await connect(address);
    assert.equal(dev.service, "demo");
    assert.equal(await dev.add(2, 40), 42);
    // Many calls at once, and a stream longer than any window: the link carries them all.
    const sums = await Promise.all(Array.from({ length: 64 }, (_, i) => dev.add(i, i)));
    assert.deepEqual(sums, Array.from({ length: 64 }, (_, i) => 2 * i));
    const items = await dev.count(5000).toArray();
    assert.equal(items.length, 5000);
    assert.equal(items[4999], 4999);
    // The server goes: the call in flight fails, the device closes.
    const failed = assert.rejects(dev.sleep(10000), ConnectionLost);
    await stop(child);
    await failed;
    await dev.peer.done();
  });

  test("the QEMU firmware through wirecall web's bridge: WebSocket to its UART socket", async (t) => {
    if (!requireFirmware(t)) return;
    const uart = `${tempDir(t)}/uart`;
    await start(t, "qemu-system-arm", qemuArgs(`unix:${uart},server=on,wait=on`, ["-monitor", "none"]), /waiting for connection/);
    const { line } = await start(t, WIRECALL,
      ["web", "--listen", "127.0.0.1:0", "--root", JS_DIR, "--to", `unix://${uart}`], /the demo page is at http:\/\//);
    const host = /http:\/\/([^/\s]+)\//.exec(line)[1];
    const dev = await connect(`ws://${host}/ws`);
    t.after(() => dev.close());
    assert.equal(dev.service, "device");
    assert.equal(await dev.add(40, 2), 42);
    const readings = await dev.sample(1000, 10).toArray();
    assert.deepEqual(readings.map((r) => r.seq), Array.from({ length: 10 }, (_, i) => i));
  });

  test("a bridge that cannot open its link: a LinkError with the server's reason", async (t) => {
    const { line } = await start(t, WIRECALL,
      ["web", "--listen", "127.0.0.1:0", "--root", JS_DIR, "--to", "tcp://127.0.0.1:1"], /the demo page is at http:\/\//);
    const host = /http:\/\/([^/\s]+)\//.exec(line)[1];
    await assert.rejects(connect(`ws://${host}/ws`), (e) => {
      assert.ok(e instanceof LinkError, `${e.name}: ${e.message}`);
      assert.match(e.message, /^cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws: the connection closed \(code \d+\): .*127\.0\.0\.1:1/);
      return true;
    });
  });

  test("nothing listening: a LinkError naming the URL", async () => {
    await assert.rejects(connect("ws://127.0.0.1:1/ws"),
      (e) => e instanceof LinkError && e.message.startsWith("cannot connect to ws://127.0.0.1:1/ws: "));
  });
}
