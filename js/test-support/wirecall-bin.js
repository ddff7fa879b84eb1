// The wirecall command line for tests: where its binary is, and starting it until a line of
// its stderr says it is ready (never a fixed wait), in a process group killed by its pid.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The js/ directory. */
export const JS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The binary: $WIRECALL_BIN, else debug/wirecall under $CARGO_TARGET_DIR or the repo's target/. */
export const WIRECALL_BIN = process.env.WIRECALL_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(JS_DIR, "..", "target"), "debug", "wirecall");

/** Why the binary cannot be used, or null. */
export function binMissing() {
  return existsSync(WIRECALL_BIN) ? null : `no wirecall binary at ${WIRECALL_BIN} (cargo build -p wirecall-cli, or set WIRECALL_BIN)`;
}

const running = new Set();
process.once("exit", () => {
  for (const child of running) kill(child);
});

/** Kills `child`'s process group. */
export function kill(child) {
  running.delete(child);
  // A group whose leader was reaped may have its number again: leave it alone.
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}

/**
 * Runs `wirecall ARGS...` and resolves with `{child, match}` once its stderr matched
 * `ready` (a RegExp); rejects with its stderr if it exits first or takes over `ms`.
 */
export function startWirecall(args, ready, ms = 10000) {
  const child = spawn(WIRECALL_BIN, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  running.add(child);
  let log = "";
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      kill(child);
      reject(new Error(`wirecall ${args.join(" ")} was not ready within ${ms} ms:\n${log}`));
    }, ms);
    child.once("error", (e) => { clearTimeout(timer); reject(e); });
    child.once("exit", (code, signal) => {
      running.delete(child);
      clearTimeout(timer);
      reject(new Error(`wirecall ${args.join(" ")} exited (${code ?? signal}):\n${log}`));
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text) => {
      log += text;
      const match = ready.exec(log);
      if (match) {
        clearTimeout(timer);
        resolveStart({ child, match });
      }
    });
  });
}
