// Frames built by hand, from docs/PROTOCOL.md (as tests/src/raw.rs does in Rust), for
// hostile-peer tests: a peer that sends what the engine never would.

/** CRC-32C (Castagnoli), reflected, as the framing uses it. */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** COBS, textbook (no trailing empty block after a full one). */
export function cobs(data) {
  const out = [0];
  let codeAt = 0;
  let code = 1;
  data.forEach((b, i) => {
    if (b === 0) {
      out[codeAt] = code;
      codeAt = out.length;
      out.push(0);
      code = 1;
    } else {
      out.push(b);
      code++;
      if (code === 0xff && i + 1 < data.length) {
        out[codeAt] = code;
        codeAt = out.length;
        out.push(0);
        code = 1;
      }
    }
  });
  out[codeAt] = code;
  return out;
}

function uncobs(data) {
  const out = [];
  let i = 0;
  while (i < data.length) {
    const code = data[i];
    if (code === 0 || i + code > data.length) return null;
    out.push(...data.slice(i + 1, i + code));
    i += code;
    if (code < 0xff && i < data.length) out.push(0);
  }
  return out;
}

/** The wire bytes of a frame whose body is `body`: delimiter, COBS(body ‖ CRC), delimiter. */
export function frame(body) {
  const crc = crc32c(body);
  const decoded = [...body, crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24];
  return Uint8Array.from([0, ...cobs(decoded), 0]);
}

/** The bodies of the good frames in `wire` (CRC checked and removed). */
export function unframe(wire) {
  const bodies = [];
  let chunk = [];
  for (const b of wire) {
    if (b !== 0) {
      chunk.push(b);
      continue;
    }
    if (chunk.length) {
      const d = uncobs(chunk);
      if (d && d.length >= 5) {
        const body = d.slice(0, -4);
        const crc = crc32c(body);
        const got = (d.at(-4) | (d.at(-3) << 8) | (d.at(-2) << 16) | (d.at(-1) << 24)) >>> 0;
        if (got === crc) bodies.push(body);
      }
    }
    chunk = [];
  }
  return bodies;
}

/** LEB128. */
export function varint(v) {
  const out = [];
  for (;;) {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** An initial Hello without features: version 1, the limits given, schema 0. */
export function hello({ maxFrame = 4096, maxInbound = 32, maxOutbound = 32, keepaliveMs = 60000 } = {}) {
  return [0x01, 1, 1, ...varint(0), ...varint(maxFrame), ...varint(maxInbound), ...varint(maxOutbound), ...varint(keepaliveMs), 0, 0, 0, 0];
}

/** A Request body. */
export function request(id, procedure, args = []) {
  return [0x02, ...varint(id), ...varint(procedure), ...args];
}

/** A Cancel body. */
export function cancel(id) {
  return [0x05, ...varint(id)];
}

/** Reads a varint at `at`: [value, next]. */
function readVarint(b, at) {
  let v = 0;
  let scale = 1;
  for (;;) {
    const x = b[at++];
    v += (x & 0x7f) * scale;
    if (!(x & 0x80)) return [v, at];
    scale *= 128;
  }
}

/** What a frame body is: `{kind, id?, code?, detail?, payload?}` for the kinds the tests read. */
export function parse(body) {
  const kind = body[0] & 0x1f;
  switch (kind) {
    case 3: {
      const [id, at] = readVarint(body, 1);
      return { kind: "reply", id, payload: body.slice(at) };
    }
    case 4: {
      const [id, at] = readVarint(body, 1);
      return { kind: "error", id, code: body[at], detail: Buffer.from(body.slice(at + 1)).toString() };
    }
    case 1: return { kind: "hello" };
    case 6: return { kind: "ping" };
    case 7: return { kind: "close", code: body[1] };
    default: return { kind: `kind ${kind}` };
  }
}
