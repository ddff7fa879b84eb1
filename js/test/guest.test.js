// The Node client reaching a function inside a WebAssembly guest: `wirecall guest` runs the
// example guest (wasm-guest/example, built by ./ci.sh) behind the bridge on a TCP port, and
// the client calls it as any device. Without the module this test skips, unless
// WIRECALL_REQUIRE_GUEST=1 (ci.sh sets it) makes that a failure.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as wirecall from "../src/node.js";
import { REPO, WIRECALL, start } from "./support/processes.js";

const MODULE = join(REPO, "target/wasm32-unknown-unknown/release/wirecall_guest_example.wasm");

test("the Node client calls a guest served by wirecall guest", async (t) => {
  if (!existsSync(MODULE)) {
    if (process.env.WIRECALL_REQUIRE_GUEST === "1") throw new Error(`${MODULE} missing (./ci.sh builds it)`);
    return t.skip(`${MODULE} missing`);
  }
  const { line } = await start(t, WIRECALL, ["guest", MODULE, "--listen", "tcp://127.0.0.1:0"], /bridging tcp /);
  const address = line.split(" ")[3];
  const dev = await wirecall.connect(`tcp://${address}`);
  t.after(() => dev.close());
  assert.equal(dev.service, "plugin");
  assert.equal(await dev.add(2, 40), 42);
  assert.deepEqual(await dev.count(5).toArray(), [0, 1, 2, 3, 4]);
  // Its calls to the host go nowhere here (no --upstream): an explicit error.
  await assert.rejects(dev.recall("color"), wirecall.RemoteError);
});
