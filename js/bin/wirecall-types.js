#!/usr/bin/env node
// wirecall-types: prints TypeScript declarations for a device, from its manifest.
//
//   wirecall-types URL            connects (tcp://, unix:, serial://, exec:) and asks it
//   wirecall-types --json FILE    reads `wirecall list --json` output (or a manifest's JSON
//                                 form) from FILE, or from stdin for -
//
// Options: --module NAME (where Device and ItemStream are imported from; default wirecall).
// Exit codes: 0 printed, 2 a wrong command line or unreadable JSON, 4 the device could
// not be reached or described itself wrongly.

import { readFileSync } from "node:fs";
import { connect, typescript } from "../src/node.js";

const USAGE = "usage: wirecall-types URL | --json FILE [--module NAME]";

function fail(code, message) {
  process.stderr.write(`wirecall-types: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const out = { module: "wirecall" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === "--json" || a === "--module") {
      if (i + 1 >= argv.length) fail(2, `${a} needs a value\n${USAGE}`);
      out[a.slice(2)] = argv[++i];
    } else if (out.url === undefined && !a.startsWith("--")) {
      out.url = a;
    } else {
      fail(2, `unexpected ${a}\n${USAGE}`);
    }
  }
  if ((out.url === undefined) === (out.json === undefined)) fail(2, USAGE);
  return out;
}

const args = parseArgs(process.argv.slice(2));
let manifest;
let schema;
if (args.json !== undefined) {
  let text;
  try {
    text = readFileSync(args.json === "-" ? 0 : args.json, "utf8");
  } catch (e) {
    fail(2, `cannot read ${args.json}: ${e.message}`);
  }
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    fail(2, `${args.json} is not JSON: ${e.message}`);
  }
} else {
  let device;
  try {
    device = await connect(args.url);
    manifest = device.manifest;
    schema = device.schemaHash;
  } catch (e) {
    fail(4, e.message);
  } finally {
    await device?.close();
  }
}
try {
  process.stdout.write(typescript(manifest, { module: args.module, schema }));
} catch (e) {
  fail(2, e.message);
}
