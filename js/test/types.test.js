// TypeScript declarations from manifests: what `typescript()` writes for each kind of
// procedure and type, the `wirecall-types` command (from a device and from `wirecall list
// --json`), and, when TypeScript is installed in js/node_modules (`npm install --no-save
// typescript`), that the declarations and src/index.d.ts compile with code using them, and
// that a wrong argument does not.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Service, typescript } from "wirecall";
import { calc } from "../examples/server.js";
import { EXAMPLE, JS, run } from "./support/commands.js";

const TSC = path.join(JS, "node_modules/typescript/bin/tsc");
const CLI = path.join(JS, "bin/wirecall-types.js");

/** A service with a type of every shape. */
const typed = new Service("sensor-hub")
  .expose("info", {
    output: { type: "struct", name: "Info", fields: { version: "u32", name: "String<16>", serial: "Vec<u8, 8>", uptime: "u64" } },
  }, () => null)
  .expose("set", {
    params: { mode: { type: "enum", name: "Mode", variants: [{ name: "Off" }, { name: "Level", inner: "u8" }, { name: "Pair", items: ["u8", "i16"] }, { name: "Blink", fields: { hz: "u8" } }] } },
    output: "Option<f32>",
  }, () => null)
  .expose("table", { params: { m: "Map<String, u32, 8>", k: "Map<(u8, u8), bool>" }, output: "(char, [u8; 4], Vec<i128>)" }, () => null)
  .expose("close", { output: { type: "unit_struct", name: "Done" } }, () => null);

test("calc: one method per procedure, as the client takes and gives values", () => {
  const text = typescript(calc.describe(), { schema: calc.hash });
  assert.match(text, /^\/\/ The wirecall service "calc" \(schema 0x3D9291FD\)/);
  assert.match(text, /^import type \{ CallDefaults, Device, ItemStream \} from "wirecall";$/m);
  assert.match(text, /^export interface CalcDevice extends Device \{$/m);
  for (const line of [
    "add(a: number, b: number): Promise<number>;",
    "checksum(data: Uint8Array | readonly number[] | string): Promise<number>;",
    "hits(): Promise<number | bigint>;",
    "upto(n: number): ItemStream<number, null>;",
    "total(items: AsyncIterable<number> | Iterable<number>): Promise<number | bigint>;",
    "scale(factor: number, items: AsyncIterable<number> | Iterable<number>): ItemStream<number, null>;",
    "reset(): Promise<null>;",
    "with(defaults: CallDefaults): CalcDevice;",
  ]) assert.ok(text.includes(`  ${line}\n`), line);
});

test("structs, enums, options, maps, tuples and big integers follow the codec's JSON", () => {
  const text = typescript(typed.describe());
  for (const line of [
    "export type Info = { version: number; name: string; serial: string; uptime: number | bigint; };",
    "export type InfoInput = { version: number; name: string; serial: Uint8Array | readonly number[] | string; uptime: number | bigint | string; };",
    'export type Mode = "Off" | { Level: number } | { Pair: [number, number] } | { Blink: { hz: number; } };',
    'export type ModeInput = "Off" | { Level: number } | { Pair: readonly [number, number] } | { Blink: { hz: number; } };',
    "export type Done = null;",
    "export interface SensorHubDevice extends Device {",
    '  info(): Promise<Info>;',
    '  set(mode: ModeInput): Promise<(number | "NaN" | "inf" | "-inf") | null>;',
    "  table(m: Record<string, number> | Map<string, number> | ReadonlyArray<readonly [string, number]>, k: Map<readonly [number, number], boolean> | ReadonlyArray<readonly [readonly [number, number], boolean]>): Promise<[string, string, (number | bigint | string)[]]>;",
  ]) assert.ok(text.includes(`${line}\n`), `${line}\n--- in ---\n${text}`);
  // `close` is a member of Device: callable by name only, and said so.
  assert.match(text, /Called with device\.call\(name, \.\.\.\): close/);
  assert.ok(!text.includes("  close("));
});

test("wirecall-types prints the declarations of a device it connects to", async () => {
  const { code, stdout, stderr } = await run("node", [CLI, `exec:${EXAMPLE}`]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, typescript(calc.describe(), { schema: calc.hash }));
});

test("wirecall-types --json reads `wirecall list --json` output", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "wirecall-types-"));
  try {
    const file = path.join(dir, "calc.json");
    writeFileSync(file, JSON.stringify({ schema: "0x3D9291FD", manifest: calc.describe() }));
    const { code, stdout, stderr } = await run("node", [CLI, "--json", file, "--module", "./wirecall"]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\(schema 0x3D9291FD\)/);
    assert.match(stdout, /from "\.\/wirecall";/);
    const wrong = await run("node", [CLI, "--json", path.join(dir, "absent.json")]);
    assert.equal(wrong.code, 2);
    const neither = await run("node", [CLI]);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /usage/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Compiles `files` (name -> text) with tsc --noEmit; resolves with {code, output}. */
async function compile(files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "wirecall-tsc-"));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    const config = {
      compilerOptions: {
        strict: true, noEmit: true, target: "es2022", lib: ["es2022", "dom"],
        module: "nodenext", moduleResolution: "nodenext",
        paths: { wirecall: [path.join(JS, "src/index.d.ts")], "wirecall/nats": [path.join(JS, "src/nats.d.ts")] },
      },
      files: Object.keys(files).filter((f) => f.endsWith(".ts")),
    };
    writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(config));
    const { code, stdout, stderr } = await run("node", [TSC, "-p", dir], { limitMs: 120000 });
    return { code, output: stdout + stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const USE = `
import { connect, listen, serve, ErrorCode, RemoteError, Service, Timeout, type ItemStream } from "wirecall";
import type { CalcDevice } from "./calc.js";
import type { SensorHubDevice, Info } from "./hub.js";

export async function main(): Promise<number> {
  const calc = await connect<CalcDevice>("exec:node examples/server.js", { timeoutMs: 1000 });
  const sum: number = await calc.add(2, 3);
  for await (const x of calc.upto(5)) void (x satisfies number);
  const total = await calc.total([1, 2, 3]);
  const scaled: ItemStream<number, null> = calc.scale(2, (async function* () { yield 1; })());
  await calc.with({ timeoutMs: 100 }).checksum(new Uint8Array([1, 2]));
  await scaled.result;
  const hub = await connect<SensorHubDevice>("tcp://127.0.0.1:7000");
  const info: Info = await hub.info();
  await hub.set({ Blink: { hz: 2 } });
  await hub.set("Off");
  await hub.call("close");
  const service = new Service("calc").expose("add", { params: { a: "i32", b: "i32" }, output: "i32" },
    function (a: number, b: number) {
      if (this.signal.aborted) throw new RemoteError(ErrorCode.Cancelled, "gone");
      return a + b;
    });
  const listener = await listen("tcp://127.0.0.1:0", service, { maxConnections: 4, maxCalls: 8 });
  await listener.close();
  void serve;
  void Timeout;
  return sum + info.version + (typeof total === "bigint" ? Number(total) : total);
}
`;

const tsc = existsSync(TSC) ? false : "TypeScript is not installed in js/node_modules (npm install --no-save typescript)";

test("the generated declarations and index.d.ts compile with code that uses them", { skip: tsc }, async () => {
  const { code, output } = await compile({
    "calc.d.ts": typescript(calc.describe()), "hub.d.ts": typescript(typed.describe()), "use.ts": USE,
  });
  assert.equal(code, 0, output);
});

test("a wrong argument does not compile: a string for add, an unknown variant", { skip: tsc }, async () => {
  const bad = `
import { connect } from "wirecall";
import type { CalcDevice } from "./calc.js";
import type { SensorHubDevice } from "./hub.js";
export async function main() {
  const calc = await connect<CalcDevice>("tcp://127.0.0.1:7000");
  await calc.add("2", 3);
  const hub = await connect<SensorHubDevice>("tcp://127.0.0.1:7000");
  await hub.set("Dim");
}
`;
  const { code, output } = await compile({ "calc.d.ts": typescript(calc.describe()), "hub.d.ts": typescript(typed.describe()), "bad.ts": bad });
  assert.notEqual(code, 0);
  assert.match(output, /bad\.ts\(7,.*Argument of type 'string' is not assignable to parameter of type 'number'/);
  assert.match(output, /bad\.ts\(9,.*Argument of type '"Dim"' is not assignable/);
});

const NATS_USE = `
import { connectNats, NoGateway, type NatsStream } from "wirecall/nats";
import { ConnectionLost } from "wirecall";

export async function main(): Promise<number> {
  const bus = await connectNats("nats://127.0.0.1:4222", { timeoutMs: 1000, name: "types" });
  const devices = await bus.devices({ quietMs: 100 });
  const signature: string = devices[0].procedures[0].signature;
  const dev = bus.device("demo", { timeoutMs: 500 });
  const sum = await dev.add(2, 40);
  for await (const x of dev.count(5)) void x;
  const stream: NatsStream = dev.stream("count", 5);
  const abort = new AbortController();
  await dev.with({ signal: abort.signal, idleMs: 100 }).call("add", 1, 2);
  void (new NoGateway("x") satisfies ConnectionLost);
  await bus.close();
  return signature.length + Number(sum) + (stream.count ?? 0);
}
`;

const natsTypes = tsc || (existsSync(path.join(JS, "node_modules/nats")) ? false : "the nats package is not installed in js/node_modules");

test("wirecall/nats's declarations compile with code that uses them, and a wrong id does not", { skip: natsTypes }, async () => {
  const good = await compile({ "use.ts": NATS_USE });
  assert.equal(good.code, 0, good.output);
  const bad = await compile({ "bad.ts": 'import { connectNats } from "wirecall/nats";\nexport async function main() {\n  (await connectNats()).device(7);\n}\n' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.output, /bad\.ts\(3,.*Argument of type 'number' is not assignable to parameter of type 'string'/);
});
