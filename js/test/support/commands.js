// Commands the server tests run: the example servers as child processes, and `run` for a
// command that ends by itself (its process group is killed when it does, or at a limit
// that only guards against a hang).

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO, WIRECALL } from "./processes.js";

/** js/. */
export const JS = fileURLToPath(new URL("../../", import.meta.url));

/** The Rust calc server on stdio, next to the `wirecall` command (`cargo build -p wirecall-tests --bins`). */
export const CALC_SERVER = join(dirname(WIRECALL), "calc-server");

/** The example server (the calc service), as a command line. */
export const EXAMPLE = `node ${join(JS, "examples/server.js")}`;
/** The JavaScript copy of the Rust demo service, as a command line. */
export const DEMO = `node ${join(JS, "examples/demo.js")}`;

/** Why a test that needs `file` (built by `how`) cannot run, or false. */
export function missing(file, how) {
  return existsSync(file) ? false : `${relative(REPO, file)} is missing (${how})`;
}

function killGroup(child) {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Runs `command args` (no shell) in a process group of its own with `input` on its stdin;
 * resolves with `{code, stdout, stderr}` once it exits.
 */
export function run(command, args, { input = "", limitMs = 30000, cwd = REPO } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => { stdout += b; });
    child.stderr.on("data", (b) => { stderr += b; });
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${command} ${args.join(" ")} ran past ${limitMs} ms\n${stderr}`));
    }, limitMs);
    child.on("error", (e) => { clearTimeout(timer); reject(e); });
    child.on("close", (code) => {
      clearTimeout(timer);
      killGroup(child); // anything it left behind in its group
      resolve({ code, stdout, stderr });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

/** A promise and its resolve, for an event a test waits for. */
export function event() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}
