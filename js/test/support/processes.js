// Child processes for the tests: the Rust `wirecall` command, QEMU with the example
// firmware, socat. Each is waited for by the line it prints once ready (never by a fixed
// sleep), and stopped by its pid (its process group) when the test ends.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/** The `wirecall` command (built by `cargo build -p wirecall-cli`), or $WIRECALL_BIN. */
export const WIRECALL = process.env.WIRECALL_BIN ?? join(REPO, "target/debug/wirecall");

/** The example firmware the QEMU tests boot (built by ./ci.sh). */
export const FIRMWARE = join(REPO, "firmware-example/target/thumbv7m-none-eabi/release/firmware-example");

/** A fresh temporary directory, removed by `cleanup()`. */
export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), "wc-js-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts `command args` in a process group of its own and waits (up to `limitMs`) for a
 * line on `stream` ("stderr" or "stdout") that matches `ready`; resolves with
 * `{child, line, lines}`. The child is killed when test `t` ends.
 */
export function start(t, command, args, ready, { stream = "stderr", limitMs = 30000, stdin = "ignore" } = {}) {
  const child = spawn(command, args, { stdio: [stdin, "pipe", "pipe"], detached: true });
  t.after(() => stop(child));
  const lines = [];
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`${command} printed no line matching ${ready} in ${limitMs} ms: ${lines.join(" | ")}`)), limitMs);
    child.once("error", (e) => { clearTimeout(timer); reject(e); });
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`${command} exited (${code}) before it was ready: ${lines.join(" | ")}`)); });
    const out = stream === "stdout" ? child.stdout : child.stderr;
    (stream === "stdout" ? child.stderr : child.stdout).resume();
    out.setEncoding("utf8");
    out.on("data", (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        if (ready.test(line)) {
          clearTimeout(timer);
          child.removeAllListeners("exit");
          resolve({ child, line, lines });
        }
      }
    });
  });
}

/** Kills a child's process group by its pid, and waits for it to exit. */
export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
  return exited;
}

/** `wirecall serve ARGS`, resolved once it says it is serving: `{child, address}`. */
export async function serveDemo(t, ...args) {
  const { child, line } = await start(t, WIRECALL, ["serve", ...args], /serving the demo service on/);
  return { child, address: line.split(" on ")[1].trim() };
}

/** Whether a firmware run is possible; else skips `t` (or fails under WIRECALL_REQUIRE_FIRMWARE=1). */
export function requireFirmware(t) {
  const missing = [];
  if (!existsSync(FIRMWARE)) missing.push(FIRMWARE);
  if (!onPath("qemu-system-arm")) missing.push("qemu-system-arm");
  if (missing.length === 0) return true;
  const message = `${missing.join(" and ")} missing (./ci.sh installs QEMU and builds the firmware)`;
  if (process.env.WIRECALL_REQUIRE_FIRMWARE === "1") throw new Error(message);
  t.skip(message);
  return false;
}

/** Whether `name` is an executable on PATH. */
export function onPath(name) {
  return (process.env.PATH ?? "").split(":").some((dir) => dir && existsSync(join(dir, name)));
}

/** QEMU running the firmware with its UART on QEMU character device `serial`. */
export function qemuArgs(serial, extra = []) {
  return ["-cpu", "cortex-m3", "-machine", "lm3s6965evb", "-display", "none", ...extra,
    "-semihosting-config", "enable=on,target=native", "-serial", serial, "-kernel", FIRMWARE];
}
