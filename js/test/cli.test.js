// The Rust command line calling the Node server as a child process (`--exec`): what
// `wirecall call --exec "node server.js" add '[2, 3]'` prints, streams both ways, errors
// and deadlines, with the exit codes `wirecall --help` lists.

import { test } from "node:test";
import assert from "node:assert/strict";
import { DEMO, EXAMPLE, missing, run } from "./support/commands.js";
import { WIRECALL } from "./support/processes.js";

const skip = missing(WIRECALL, "cargo build -p wirecall-cli");
const wirecall = (args, input) => run(WIRECALL, [...args, "--no-cache"], { input });

test("call add '[2, 3]' prints 5", { skip }, async () => {
  const { code, stdout, stderr } = await wirecall(["call", "--exec", EXAMPLE, "add", "[2, 3]"]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "5\n");
});

test("list shows the calc service with the Rust server's schema hash", { skip }, async () => {
  const { code, stdout, stderr } = await wirecall(["list", "--json", "--exec", EXAMPLE]);
  assert.equal(code, 0, stderr);
  const listed = JSON.parse(stdout);
  assert.equal(listed.schema, "0x3D9291FD");
  assert.deepEqual(listed.manifest.procedures.map((p) => p.signature), [
    "add(a: i32, b: i32) -> i32", "chars(text: String) -> u32", "checksum(data: Vec<u8>) -> u32",
    "hits() -> u64", "upto(n: u32) -> stream u32", "total(stream u32) -> u64",
    "scale(factor: u32, stream u32) -> stream u32", "reset()",
  ]);
});

test("a handler's error exits 1 with the wire error", { skip }, async () => {
  const overflow = await wirecall(["call", "--exec", EXAMPLE, "add", "[2147483647, 1]"]);
  assert.equal(overflow.code, 1);
  assert.match(overflow.stderr, /rejected the arguments/);
  const failed = await wirecall(["call", "--exec", DEMO, "fail"]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /internal error/);
  const huge = await wirecall(["call", "--exec", DEMO, "huge", "--max-frame", "512"]);
  assert.equal(huge.code, 1);
  assert.match(huge.stderr, /too large: the result of huge/);
});

test("arguments that do not fit are refused before anything is sent (exit 2)", { skip }, async () => {
  const { code, stderr } = await wirecall(["call", "--exec", EXAMPLE, "add", '["x", 1]']);
  assert.equal(code, 2);
  assert.match(stderr, /expected i32/);
});

test("a server stream prints one line per item", { skip }, async () => {
  const { code, stdout, stderr } = await wirecall(["stream", "--exec", EXAMPLE, "upto", "[5]"]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "0\n1\n2\n3\n4\n");
});

test("a client stream and a bidirectional one take their items from stdin", { skip }, async () => {
  const total = await wirecall(["stream", "--exec", EXAMPLE, "total"], "1\n2\n3\n");
  assert.equal(total.code, 0, total.stderr);
  assert.equal(total.stdout, "6\n");
  const scale = await wirecall(["stream", "--exec", EXAMPLE, "scale", "[3]"], "1\n2\n3\n");
  assert.equal(scale.code, 0, scale.stderr);
  assert.equal(scale.stdout, "3\n6\n9\n");
});

test("--timeout ends a call the handler takes too long over (exit 3)", { skip }, async () => {
  const { code, stderr } = await wirecall(["call", "--exec", DEMO, "sleep", "[5000]", "--timeout", "300ms"]);
  assert.equal(code, 3, stderr);
  assert.match(stderr, /timed out/);
});
