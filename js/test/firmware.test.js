// The Node client against the example firmware under QEMU (an LM3S6965, Cortex-M3), over its
// UART: on a Unix socket, and on a pty opened as a serial port through the serialport
// package, as a real board's USB serial port would be. The firmware is built by ./ci.sh;
// without it or QEMU these tests skip, unless WIRECALL_REQUIRE_FIRMWARE=1 (ci.sh sets it).

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as wirecall from "../src/node.js";
import { qemuArgs, requireFirmware, start, tempDir } from "./support/processes.js";

/** The firmware with its UART on a Unix socket; QEMU starts the device once we connect. */
async function firmwareOnSocket(t) {
  const path = join(tempDir(t), "uart");
  await start(t, "qemu-system-arm", qemuArgs(`unix:${path},server=on,wait=on`, ["-monitor", "none"]), /waiting for connection/);
  const dev = await wirecall.connect(`unix://${path}`);
  t.after(() => dev.close());
  return dev;
}

async function exercise(dev) {
  assert.equal(await dev.add(40, 2), 42);
  assert.equal(await dev.echo(new Uint8Array([0, 1, 2, 0, 0xff, 0])), "0x00010200ff00");
  assert.equal(await dev.set_level(7), 0);
  assert.equal(await dev.get_level(), 7);
  const info = await dev.info();
  assert.match(info.firmware, /^wirecall-example/);
  const readings = await dev.sample(1000, 20).toArray();
  assert.deepEqual(readings.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i));
}

test("every procedure of the firmware over its UART", async (t) => {
  if (!requireFirmware(t)) return;
  const dev = await firmwareOnSocket(t);
  assert.deepEqual(dev.procedures.map((p) => p.name),
    ["add", "echo", "info", "set_level", "get_level", "sleep", "sample", "ask_host", "open_channel", "power_down"]);
  await exercise(dev);
  await assert.rejects(dev.echo(new Uint8Array(65)), wirecall.EncodeError, "65 bytes do not fit Vec<u8, 64>");
  await assert.rejects(dev.with({ timeoutMs: 50 }).sleep(2000), (e) => e instanceof wirecall.Timeout || e instanceof wirecall.DeadlineExceeded);
  assert.equal(await dev.add(1, 1), 2);
});

test("many calls at once onto a device that serves four: all answered, none late", async (t) => {
  if (!requireFirmware(t)) return;
  const dev = await firmwareOnSocket(t);
  assert.equal(dev.peer.info.maxInbound, 4);
  const results = await Promise.all(Array.from({ length: 64 }, (_, i) => dev.add(i, 1000)));
  assert.deepEqual(results, Array.from({ length: 64 }, (_, i) => i + 1000));
  assert.equal(dev.stats().late_replies, 0);
});

test("the firmware over a serial port (a pty through the serialport package)", async (t) => {
  if (!requireFirmware(t)) return;
  try {
    await import("serialport");
  } catch {
    if (process.env.WIRECALL_REQUIRE_FIRMWARE === "1") throw new Error("the serialport package is missing (npm ci in js/)");
    return t.skip("the serialport package is missing");
  }
  // QEMU starts paused: a new pty echoes what it receives until it is made raw, which would
  // send the device's first frames back to it. Opening the port makes it raw; then it runs.
  const { child, line } = await start(t, "qemu-system-arm", qemuArgs("pty", ["-S", "-monitor", "stdio"]),
    /redirected to \/dev\//, { stream: "stdout", stdin: "pipe" });
  const pty = line.split("redirected to ")[1].split(/\s/)[0];
  const link = await wirecall.serialLink(pty, 115200);
  child.stdin.write("cont\n");
  const dev = await wirecall.deviceOver(link);
  t.after(() => dev.close());
  await exercise(dev);
});
