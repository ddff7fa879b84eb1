// The demo page: connects to a wirecall peer over a WebSocket (by default `wirecall web`'s
// /ws on this page's host) or a Web Serial port, shows the session's state as it is (it
// says "connected" only while a session is up), and offers a form per procedure.
//
// Hooks for tests: #state's data-state is loading, disconnected, connecting, connected,
// reconnecting or error; #error shows the last failure; #procedures gets data-count once
// the forms are built.

import { disableProcedures, showProcedures } from "./forms.js";

const $ = (id) => document.getElementById(id);

let wirecall = null;
/** The device connected now, or null; `closing` is set when the user closes it. */
let device = null;
let closing = false;

function setState(state, text) {
  $("state").dataset.state = state;
  $("state").textContent = text;
}

function showError(e) {
  $("error").hidden = !e;
  $("error").textContent = e ? `${e.name ?? "Error"}: ${e.message ?? e}` : "";
}

function busy(yes) {
  $("connect").disabled = yes;
  $("serial").disabled = yes;
  $("disconnect").disabled = yes || device === null;
}

/** Closes the device connected now, if any (its watcher then reports "disconnected"). */
async function disconnect() {
  const d = device;
  if (!d) return;
  closing = true;
  await d.close();
  closing = false;
}

/** Connects with `how()` (a promise of a Device) to `what`, replacing any connection. */
async function open(how, what) {
  await disconnect();
  busy(true);
  showError(null);
  setState("connecting", `connecting to ${what}…`);
  let d;
  try {
    d = await how();
  } catch (e) {
    setState("error", `not connected: cannot connect to ${what}`);
    showError(e);
    busy(false);
    return;
  }
  device = d;
  const via = d.peer.link.name;
  d.peer.onSession((info, error) => {
    if (device !== d) return;
    if (info) {
      setState("connected", `connected to ${d.service} over ${via}`);
      return;
    }
    if (d.peer.closed) {
      device = null;
      disableProcedures($("procedures"));
      busy(false);
      if (closing) {
        setState("disconnected", "not connected (closed)");
      } else {
        setState("disconnected", `not connected: the connection to ${via} was lost`);
        showError(error);
      }
    } else {
      // The link is up, the session is not: the engine says Hello again until it is.
      setState("reconnecting", `the session over ${via} ended; waiting for the peer`);
      showError(error);
    }
  });
  // connect() resolved over a session (it read the manifest over it); it may have ended since.
  if (d.peer.info) setState("connected", `connected to ${d.service} over ${via}`);
  else setState("reconnecting", `the session over ${via} ended; waiting for the peer`);
  $("service").textContent = `: ${d.service}`;
  showProcedures($("procedures"), $("procedure-template"), d, wirecall);
  busy(false);
}

async function main() {
  try {
    wirecall = await import("../src/browser.js");
  } catch (e) {
    setState("error", "the WebAssembly core did not load");
    showError(e);
    throw e;
  }
  $("url").value = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  $("connect-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const url = $("url").value.trim();
    open(() => wirecall.connect(url), url);
  });
  $("disconnect").addEventListener("click", () => disconnect());
  // Web Serial exists in Chromium-based browsers only (and over https or localhost).
  if ("serial" in navigator) {
    $("serial-controls").hidden = false;
    $("serial").addEventListener("click", async () => {
      let port;
      try {
        port = await navigator.serial.requestPort();
      } catch (e) {
        showError(e); // the user closed the chooser, or no port is there
        return;
      }
      const baud = Number($("baud").value) || 115200;
      const onReopen = (error, count) => {
        $("reopens").hidden = false;
        $("reopens").textContent = `(read past ${count} line error${count === 1 ? "" : "s"}, last: ${error?.name})`;
      };
      open(() => wirecall.connectSerial(port, { baud, onReopen }), `the serial port at ${baud} baud`);
    });
  }
  setState("disconnected", "not connected");
  busy(false);
}

main();
