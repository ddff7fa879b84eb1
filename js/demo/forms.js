// One form per procedure of the connected device: an input per parameter (JSON, or plain
// text for a string), a Call button, the result or the error; for a procedure that sends a
// stream, its items counted and plotted live, and a Stop button that cancels the call.
//
// Hooks for tests: each form has data-procedure=NAME, each input data-param=NAME; the
// <output> has data-status (pending, ok, error, cancelled) and data-seq (how many calls of
// the form ended); a stream's item count is in .items and in the canvas's data-points.

import { Plot } from "./plot.js";

/** The value typed for a parameter of `type` (a JSON-form type). */
function parseParam(text, type) {
  const t = text.trim();
  // A string parameter takes the text as it is, unless it is written as a JSON string.
  if (type?.type === "string" && !t.startsWith("\"")) return text;
  try {
    return JSON.parse(t);
  } catch {
    throw new Error(`\`${text}\` is not JSON (write strings in quotes, lists as [1, 2])`);
  }
}

/** A hint of what a parameter of `type` takes, in the form parseParam reads. */
function example(type) {
  switch (type?.type) {
    case "string": return "text";
    case "bool": return "true";
    case "f32": case "f64": return "1.5";
    case "seq": case "array": return "[1, 2, 3]";
    case "struct": case "map": case "option": case "enum": return "JSON";
    default: return /^[iu]\d+$/.test(type?.type ?? "") ? "0" : "JSON";
  }
}

function show(output, status, text) {
  output.dataset.status = status;
  output.textContent = text;
  if (status !== "pending") output.dataset.seq = String(Number(output.dataset.seq ?? 0) + 1);
}

function failure(e) {
  return `${e?.name ?? "Error"}: ${e?.message ?? e}`;
}

/** Builds the forms of `device`'s procedures into `section` (replacing what was there). */
export function showProcedures(section, template, device, { Cancelled }) {
  section.replaceChildren();
  for (const p of device.procedures) {
    const form = template.content.firstElementChild.cloneNode(true);
    form.dataset.procedure = p.name;
    form.querySelector(".signature").textContent = p.signature;
    form.querySelector(".kind").textContent = p.kind;
    const params = form.querySelector(".params");
    for (const param of p.params) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.dataset.param = param.name;
      input.spellcheck = false;
      input.placeholder = example(param.type);
      label.append(`${param.name} `, input);
      params.append(label);
    }
    const takesItems = p.kind === "client stream" || p.kind === "bidi stream";
    if (takesItems) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.dataset.items = "";
      input.placeholder = "[1, 2, 3]";
      label.append("items (a JSON list) ", input);
      params.append(label);
    }
    const output = form.querySelector(".result");
    const sends = p.kind === "server stream" || p.kind === "bidi stream";
    const plot = sends ? new Plot(form.querySelector(".plot")) : null;
    const stop = form.querySelector(".stop");
    if (sends) {
      form.querySelector(".stream").hidden = false;
      stop.hidden = false;
    }
    let running = null;
    stop.addEventListener("click", () => running?.cancel());

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const args = {};
      let items;
      try {
        for (const param of p.params) {
          args[param.name] = parseParam(form.querySelector(`[data-param="${param.name}"]`).value, param.type);
        }
        if (takesItems) items = parseParam(form.querySelector("[data-items]").value || "[]", null);
      } catch (e) {
        return show(output, "error", e.message);
      }
      const callArgs = takesItems ? [args, items] : [args];
      if (!sends) {
        show(output, "pending", "calling…");
        try {
          show(output, "ok", JSON.stringify(await device.call(p.name, ...callArgs)));
        } catch (e) {
          show(output, "error", failure(e));
        }
        return;
      }
      running?.cancel();
      const stream = device.call(p.name, ...callArgs);
      running = stream;
      plot.reset();
      const counter = form.querySelector(".items");
      const last = form.querySelector(".last");
      counter.textContent = "0";
      stop.disabled = false;
      show(output, "pending", "receiving…");
      let n = 0;
      try {
        for await (const item of stream) {
          if (running !== stream) return; // a newer call of this form took over
          n += 1;
          counter.textContent = String(n);
          last.textContent = JSON.stringify(item);
          plot.add(item);
        }
        const result = await stream.result;
        if (running !== stream) return;
        show(output, "ok", `ended after ${n} items${result === null || result === undefined ? "" : `: ${JSON.stringify(result)}`}`);
      } catch (e) {
        if (running !== stream) return;
        show(output, e instanceof Cancelled ? "cancelled" : "error", `after ${n} items: ${failure(e)}`);
      } finally {
        if (running === stream) {
          running = null;
          stop.disabled = true;
        }
      }
    });
    section.append(form);
  }
  section.dataset.count = String(device.procedures.length);
}

/** Turns every form in `section` off (the session is gone). */
export function disableProcedures(section) {
  for (const button of section.querySelectorAll("button")) button.disabled = true;
}
