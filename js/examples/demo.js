#!/usr/bin/env node
// The demo service of the Rust tests (tests/src/demo.rs, what `wirecall serve` serves) in
// JavaScript, but for `open` (remote handles are out of this package's scope): the same
// procedures, numbers and types, so each one's manifest entry is the Rust one's
// (js/test/schema.test.js checks). Serves on stdio, or on the URL given.

import { pathToFileURL } from "node:url";
import { ErrorCode, RemoteError, Service, listen, serveStdio } from "wirecall";

/** Waits `ms` milliseconds, or until `signal` aborts (then rejects with its reason). */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

export const demo = new Service("demo")
  .expose("add", { params: { a: "i32", b: "i32" }, output: "i32" }, (a, b) => {
    const sum = a + b;
    if (sum < -(2 ** 31) || sum >= 2 ** 31) throw new RemoteError(ErrorCode.BadArguments);
    return sum;
  })
  .expose("echo", { params: { data: "Vec<u8, 200>" }, output: "Vec<u8, 200>" }, (data) => data)
  .expose("fail", {}, () => {
    throw new RemoteError(ErrorCode.Internal);
  })
  .expose("huge", { output: "Vec<u8, 1024>" }, () => new Uint8Array(1024).fill(0xab))
  .expose("sleep", { params: { ms: "u32" } }, async (ms, { signal }) => {
    await sleep(Math.min(ms, 10000), signal);
  })
  .expose("count", { params: { n: "u32" }, item: "u32" }, function* (n) {
    for (let i = 0; i < n; i++) yield i;
  });

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2];
  if (url) {
    const listener = await listen(url, demo);
    console.error(`wirecall: serving demo on ${listener.url.replace("://", " ")}`);
  } else {
    await serveStdio(demo);
  }
}
