#!/usr/bin/env node
// Node client calls per second against the Rust server (`wirecall serve`), over loopback TCP.
//
//   node js/bench/calls_per_second.mjs [--server target/release/wirecall] [--seconds 3] [--rounds 3]
//       [--rust-bench target/release/wirecall-bench] [--url tcp://HOST:PORT]
//
// Starts the Rust demo server itself (stopped by pid at the end), or uses --url. Calls
// add(1000 + i % 1000, 5678) (the Rust benchmarks' arguments) with 1 call in flight, then 32
// in flight (32 concurrent async loops on one connection). With --rust-bench the Rust
// clients run in the same interleaved rounds (wirecall-bench: the blocking client at 1 in
// flight, the tokio one at 32, each against its own Rust server), for ratios on a noisy
// machine. Prints one RESULT line per case (the median of the rounds, and each round);
// asserts nothing.

import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import * as wirecall from "../src/node.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const seconds = Number(option("seconds", "3"));
const rounds = Number(option("rounds", "3"));
const rustBench = option("rust-bench", null);
let url = option("url", null);

function startServer(binary) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ["serve", "--tcp", "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.setEncoding("utf8");
    let text = "";
    child.stderr.on("data", (d) => {
      text += d;
      const m = /serving the demo service on tcp (\S+)/.exec(text);
      if (m) resolve({ child, url: `tcp://${m[1]}` });
    });
    child.once("exit", (code) => reject(new Error(`the server exited (${code}): ${text}`)));
  });
}

async function inFlight(dev, loops) {
  let calls = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(Array.from({ length: loops }, async () => {
    let n = 0;
    while (performance.now() < end) {
      await dev.add(1000 + (n % 1000), 5678);
      n++;
    }
    calls += n;
  }));
  return calls / ((performance.now() - start) / 1000);
}

// Run without blocking this process's event loop, which keeps answering the idle session's
// keepalives meanwhile (a loop blocked for 3 s would be taken for a dead link).
async function rustCase(caseName, inflight) {
  const { stdout: out } = await promisify(execFile)(rustBench, [caseName, "--runs", "1", "--seconds", String(seconds),
    "--warmup", "0.3", "--inflight", String(inflight)], { encoding: "utf8" });
  const line = out.split("\n").find((l) => l.startsWith("RESULT"));
  return Number(line.split("\t")[6]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString("en");

let server = null;
if (!url) {
  server = await startServer(option("server", `${REPO}target/release/wirecall`));
  url = server.url;
}
try {
  const dev = await wirecall.connect(url);
  await dev.add(1, 2);
  const cases = [
    ["node, 1 in flight", () => inFlight(dev, 1)],
    ["node, 32 in flight on one connection", () => inFlight(dev, 32)],
  ];
  if (rustBench) {
    cases.push(["rust blocking Client, 1 in flight", () => rustCase("wirecall-tcp-add", 1)]);
    cases.push(["rust tokio AsyncClient, 32 in flight", () => rustCase("wirecall-tokio-tcp-add", 32)]);
  }
  console.log(`node ${process.version}, server ${url}, ${rounds} rounds of ${seconds} s`);
  const results = new Map(cases.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    // Rounds interleave the cases, so that noise hits all alike.
    for (const [name, measure] of cases) results.get(name).push(await measure());
  }
  for (const [name, rates] of results) {
    console.log(`RESULT\t${name}\t${fmt(median(rates))} calls/s\t(rounds: ${rates.map(fmt).join(", ")})`);
  }
  await dev.close();
} finally {
  server?.child.kill("SIGKILL");
}
