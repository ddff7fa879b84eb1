#!/usr/bin/env node
// The `calc` service of the Rust tests (tests/src/calc.rs), written in JavaScript: the same
// procedures with the same wire types, so the same manifest and schema hash, and the Rust
// typed client calls it as it calls the Rust server (tests/tests/it/node.rs).
//
//   node server.js                      serves on stdin and stdout (wirecall call --exec ...)
//   node server.js tcp://127.0.0.1:7000 serves on a socket (port 0: any free one); prints
//                                       "wirecall: serving calc on tcp 127.0.0.1:PORT" on
//                                       stderr once it listens, and serves until killed

import { pathToFileURL } from "node:url";
import { ErrorCode, RemoteError, Service, listen, serveStdio } from "wirecall";

/** The calls served so far (as the Rust server's, shared by every connection). */
let hits = 0;

const I32 = 2 ** 31;
const U32 = 2 ** 32;

/** The service: the Rust declaration, procedure by procedure (numbered 0 to 7 in order). */
export const calc = new Service("calc")
  .expose("add", { params: { a: "i32", b: "i32" }, output: "i32" }, (a, b) => {
    hits++;
    const sum = a + b;
    if (sum < -I32 || sum >= I32) throw new RemoteError(ErrorCode.BadArguments);
    return sum;
  })
  .expose("chars", { params: { text: "String" }, output: "u32" }, (text) => {
    hits++;
    return [...text].length; // characters, as Rust's chars().count(), not UTF-16 units
  })
  .expose("checksum", { params: { data: "Vec<u8>" }, output: "u32" }, (data) => {
    hits++;
    return data.reduce((sum, b) => sum + b, 0);
  })
  .expose("hits", { output: "u64" }, () => hits)
  .expose("upto", { params: { n: "u32" }, item: "u32" }, function* (n) {
    hits++;
    for (let i = 0; i < n; i++) yield i;
  })
  .expose("total", { in_item: "u32", output: "u64" }, async (items) => {
    hits++;
    let sum = 0;
    for await (const x of items) sum += x;
    return sum;
  })
  .expose("scale", { params: { factor: "u32" }, in_item: "u32", item: "u32" }, async function* (factor, items) {
    hits++;
    for await (const x of items) {
      const scaled = x * factor;
      if (scaled >= U32) throw new RemoteError(ErrorCode.BadArguments);
      yield scaled;
    }
  })
  .expose("reset", {}, () => {
    hits = 0;
  });

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2];
  if (url) {
    const listener = await listen(url, calc);
    console.error(`wirecall: serving calc on ${listener.url.replace("://", " ")}`);
  } else {
    await serveStdio(calc);
  }
}
