#!/usr/bin/env node
// The headless browser test of the demo page: starts `wirecall web` on a free port of
// 127.0.0.1, opens its page in headless Chromium (puppeteer-core, the system's browser),
// connects over the page's WebSocket, calls `add` through its form, runs the stream `count`
// into the plot, stops a long stream, and checks that the page says "disconnected" once
// the server is gone. Every step has a deadline and waits for an event on the page (never
// a fixed sleep); whatever happens, the browser is closed and the server killed by its pid.
//
//   cd js && npm run build && node test-browser/run.mjs
//
// Environment: WIRECALL_BIN (default: the repository's target/debug/wirecall),
// CHROMIUM (default: /usr/bin/chromium-headless-shell, else /usr/bin/chromium), STEP_TIMEOUT_MS,
// SCREENSHOT (a .png path: the page after the stream of 20, for a person to look at).
// Exits 0 if every step passed, 1 naming the step that failed (and why), 2 if a
// prerequisite is missing.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO, WIRECALL, start, stop } from "../test/support/processes.js";

const JS_DIR = join(REPO, "js");

const STEP_MS = Number(process.env.STEP_TIMEOUT_MS ?? 15000);

function missing(why) {
  console.error(`browser test: ${why}`);
  process.exit(2);
}

if (!existsSync(WIRECALL)) missing(`no wirecall binary at ${WIRECALL} (cargo build -p wirecall-cli, or set WIRECALL_BIN)`);
const chromium = process.env.CHROMIUM
  ?? ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"].find((p) => existsSync(p));
if (!chromium || !existsSync(chromium)) {
  missing("no Chromium (apt-get install chromium-headless-shell, or set CHROMIUM to its path)");
}
if (!existsSync(join(JS_DIR, "dist", "wirecall_wasm_bg.wasm"))) missing("no js/dist/ (run npm run build in js/)");
let puppeteer;
try {
  puppeteer = (await import("puppeteer-core")).default;
} catch (e) {
  missing(`puppeteer-core is not installed (npm install in js/): ${e.message}`);
}

/** Runs `fn` within `ms`, naming the step on failure. */
async function step(name, fn, ms = STEP_MS) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([fn(), late]);
  } catch (e) {
    throw new Error(`step "${name}" failed: ${e.message}`);
  } finally {
    clearTimeout(timer);
  }
  passed += 1;
  console.log(`ok ${passed} - ${name}`);
}

/** What the test started, stopped at its end (the `t.after` of test/support/processes.js). */
const cleanups = [];
const run = { after: (fn) => cleanups.push(fn) };

/** Kills `wirecall web` (its process group, by its pid), if it was started. */
function killServer() {
  return server ? stop(server) : undefined;
}

// Whatever ends the run (a signal from a CI's timeout, ^C, a step that failed while
// wirecall was still starting), the processes it started are killed by their pids.
function killAll() {
  for (const fn of cleanups.splice(0)) fn();
}
process.once("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(1));

let passed = 0;
let server = null;
let browser = null;
const pageErrors = [];
const consoleErrors = [];

/** The text of the page element `selector`. */
const text = (page, selector) => page.$eval(selector, (e) => e.textContent);

try {
  let url;
  await step("wirecall web serves the demo page", async () => {
    // It prints the page's address once it listens: the test waits for that line.
    const started = await start(run, WIRECALL, ["web", "--listen", "127.0.0.1:0", "--root", JS_DIR],
      /the demo page is at http:\/\//);
    server = started.child;
    url = /(http:\/\/\S+)/.exec(started.line)[1];
  });
  let page;
  await step(`Chromium starts (${chromium})`, async () => {
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      // Chromium's sandbox needs user namespaces a root user in a container lacks.
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
    page = await browser.newPage();
  });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  const noErrors = () => {
    if (pageErrors.length) throw new Error(`uncaught exception in the page: ${pageErrors.join("; ")}`);
    if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join("; ")}`);
  };

  await step("the page loads the WebAssembly core", async () => {
    await page.goto(url);
    await page.waitForSelector('#state[data-state="disconnected"]', { timeout: STEP_MS });
    noErrors();
  });
  await step("Connect brings the session up", async () => {
    await page.click("#connect");
    await page.waitForSelector('#state[data-state="connected"], #state[data-state="error"]', { timeout: STEP_MS });
    const state = await page.$eval("#state", (e) => e.dataset.state);
    if (state !== "connected") throw new Error(`the page says ${await text(page, "#state")}: ${await text(page, "#error")}`);
  });
  await step("the procedures are listed with their signatures", async () => {
    await page.waitForSelector("#procedures[data-count]", { timeout: STEP_MS });
    const signatures = await page.$$eval("#procedures .signature", (es) => es.map((e) => e.textContent));
    for (const want of ["add(a: i32, b: i32) -> i32", "count(n: u32) -> stream u32"]) {
      if (!signatures.includes(want)) throw new Error(`no ${want} among ${signatures.join(", ")}`);
    }
  });
  await step("add(2, 40) through its form shows 42", async () => {
    const form = 'form[data-procedure="add"]';
    await page.type(`${form} [data-param="a"]`, "2");
    await page.type(`${form} [data-param="b"]`, "40");
    await page.click(`${form} button.call`);
    await page.waitForSelector(`${form} output[data-seq="1"]`, { timeout: STEP_MS });
    const [status, value] = await page.$eval(`${form} output`, (o) => [o.dataset.status, o.textContent]);
    if (status !== "ok" || value !== "42") throw new Error(`the form shows ${status}: ${value}`);
  });
  await step("count(20) plots 20 items as they arrive", async () => {
    const form = 'form[data-procedure="count"]';
    await page.type(`${form} [data-param="n"]`, "20");
    await page.click(`${form} button.call`);
    await page.waitForSelector(`${form} canvas[data-drawn="20"]`, { timeout: STEP_MS });
    await page.waitForSelector(`${form} output[data-seq="1"]`, { timeout: STEP_MS });
    const [status, value] = await page.$eval(`${form} output`, (o) => [o.dataset.status, o.textContent]);
    if (status !== "ok") throw new Error(`the stream ended with ${status}: ${value}`);
    const [items, last] = [await text(page, `${form} .items`), await text(page, `${form} .last`)];
    if (items !== "20" || last !== "19") throw new Error(`the page counted ${items} items, last ${last}`);
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  });
  await step("Stop cancels a long stream", async () => {
    const form = 'form[data-procedure="count"]';
    await page.$eval(`${form} [data-param="n"]`, (i) => { i.value = "100000000"; });
    await page.click(`${form} button.call`);
    // Items are flowing once the plot has taken more than the first run's 20.
    await page.waitForFunction((f) => Number(document.querySelector(`${f} canvas`).dataset.points) > 20,
      { timeout: STEP_MS }, form);
    await page.click(`${form} button.stop`);
    await page.waitForSelector(`${form} output[data-seq="2"]`, { timeout: STEP_MS });
    const status = await page.$eval(`${form} output`, (o) => o.dataset.status);
    if (status !== "cancelled") throw new Error(`the stream ended with ${status}, not cancelled`);
    const state = await page.$eval("#state", (e) => e.dataset.state);
    if (state !== "connected") throw new Error(`the page says ${state} after the cancel`);
  });
  await step("the state says connected, and nothing failed in the page", async () => {
    const state = await text(page, "#state");
    if (!/^connected to demo over ws:\/\/127\.0\.0\.1:\d+\/ws$/.test(state)) throw new Error(`the state reads "${state}"`);
    noErrors();
  });
  await step("the page says disconnected once the server is gone", async () => {
    await killServer();
    await page.waitForSelector('#state[data-state="disconnected"]', { timeout: STEP_MS });
    if (pageErrors.length) throw new Error(`uncaught exception in the page: ${pageErrors.join("; ")}`);
  });
  console.log(`browser: ${passed} passed, 0 failed`);
} catch (e) {
  console.error(`browser test: ${e.message}`);
  console.log(`browser: ${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  await browser?.close().catch(() => {});
  // A step that timed out may have left a wirecall starting (not yet in `server`): the
  // exit hook kills it, and nothing it holds keeps this process alive.
  process.exit();
}
