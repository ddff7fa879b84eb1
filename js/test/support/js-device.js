// A small wirecall device served by this process (a Peer with onRequest), for tests that
// need a peer on the far side of a fake link: `add(a, b) -> i32`, and `hang() -> ()`,
// which never answers (to see calls fail when the link goes).

import { wasm } from "../../src/wasm.js";
import { Peer } from "../../src/peer.js";
import { ErrorCode } from "../../src/errors.js";

const DESCRIPTION = {
  service: "testdev",
  procedures: [
    { name: "add", params: { a: "i32", b: "i32" }, output: "i32" },
    { name: "hang", params: {}, output: "()" },
  ],
};

/** Serves the test device over `link`; returns its Peer. */
export function serveTestDevice(link) {
  const schema = wasm().Schema.declare(DESCRIPTION);
  const names = new Map(schema.describe().procedures.map((p) => [p.id, p.name]));
  return new Peer(link, {
    engine: { manifest: schema.bytes(), schema: schema.hash },
    onRequest(peer, e) {
      const name = names.get(e.procedure);
      if (name === "add") {
        const { a, b } = schema.decode("args", "add", e.args);
        peer.respond(e.request, schema.encode("output", "add", a + b));
      } else if (name !== "hang") {
        peer.respondError(e.request, ErrorCode.UnknownProcedure, `no procedure ${e.procedure}`);
      }
    },
  });
}
