#!/usr/bin/env python3
"""Generates wire.json, the byte-exact test vectors of docs/PROTOCOL.md.

Written from the spec alone, in another language than the core, as a third implementation
of the framing (the core and tests/src/raw.rs are the other two). The Rust tests
(tests/tests/it/vectors.rs) check the core against the file this writes; run
`python3 tests/vectors/generate.py` to regenerate it, and commit the result.
"""
import json
import pathlib


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def cobs(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for i, b in enumerate(data):
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block = bytearray()
                if i == len(data) - 1:
                    return bytes(out)  # no empty block after a full one at the end
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def frame(body: bytes) -> bytes:
    return b"\x00" + cobs(body + crc32c(body).to_bytes(4, "little")) + b"\x00"


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        if v == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def hello(reply, version, min_version, features, max_frame, inbound, outbound, keepalive_ms, schema,
          call_timeout_ms=None, stream_window=None, max_handles=None):
    body = (bytes([0x21 if reply else 0x01, version, min_version]) + varint(features) + varint(max_frame)
            + varint(inbound) + varint(outbound) + varint(keepalive_ms) + schema.to_bytes(4, "little"))
    if features & 1:  # feature 0, call timeout: the default deadline of the sender's requests
        body += varint(call_timeout_ms)
    if features & 2:  # feature 1, streams: the items the sender accepts per stream before granting more
        body += varint(stream_window)
    if features & 8:  # feature 3, handles: the slots of the sender's export table
        body += varint(max_handles)
    return body


def zigzag(v: int) -> bytes:
    return varint((v << 1) ^ (v >> 31) & 0xFFFFFFFF)


ADD_1_2 = zigzag(1) + zigzag(2)
LONG = bytes((i % 255) + 1 for i in range(300))  # no zeros: COBS needs a 0xFF block

FRAMES = [
    ("hello", "Hello from a device: version 1, min 1, features 3 (call timeout, streams), max_frame 256, 4 in, "
              "4 out, keepalive 1000 ms, schema 0x12345678, call timeout 5000 ms, stream window 8",
     hello(False, 1, 1, 3, 256, 4, 4, 1000, 0x12345678, 5000, 8)),
    ("hello_reply", "Hello reply from a host: features 3, max_frame 1024, 16 in, 16 out, keepalive 1000 ms, no schema, "
                    "call timeout 5000 ms, stream window 8",
     hello(True, 1, 1, 3, 1024, 16, 16, 1000, 0, 5000, 8)),
    ("hello_timeout_only", "Hello from a peer with the call-timeout feature only: features 1, max_frame 256, 4 in, "
                           "4 out, keepalive 1000 ms, schema 0x12345678, call timeout 5000 ms (no stream window)",
     hello(False, 1, 1, 1, 256, 4, 4, 1000, 0x12345678, 5000)),
    ("hello_plain", "Hello from a peer without the call-timeout feature: features 0, max_frame 256, 4 in, 4 out, "
                    "keepalive 1000 ms, schema 0x12345678 (nothing after the schema)",
     hello(False, 1, 1, 0, 256, 4, 4, 1000, 0x12345678)),
    ("request_add", "Request id 0, procedure 0 (add), arguments (1, 2)", b"\x02\x00\x00" + ADD_1_2),
    ("reply_add", "Reply id 0, result 3", b"\x03\x00" + zigzag(3)),
    ("request_add_timeout", "Request id 4 (slot 0 of 4, second epoch), procedure 0, timeout 1500 ms, arguments (1, 2)",
     b"\x22\x04\x00" + varint(1500) + ADD_1_2),
    ("cancel", "Cancel id 4", b"\x05\x04"),
    ("error_cancelled", "Error id 4, Cancelled (6)", b"\x04\x04\x06"),
    ("request_from_peer", "Request id 300 (two-byte varint), procedure 0, arguments (1, 2)",
     b"\x02" + varint(300) + b"\x00" + ADD_1_2),
    ("error_detail", "Error id 300, BadArguments (3), detail 'expected (i32, i32)'",
     b"\x04" + varint(300) + b"\x03" + b"expected (i32, i32)"),
    ("error_busy", "Error id 7, Busy (1)", b"\x04\x07\x01"),
    ("ping", "Ping", b"\x06"),
    ("pong", "Pong (Ping with FLAG)", b"\x26"),
    ("close", "Close, code Closed (13)", b"\x07\x0d"),
    ("close_protocol_violation", "Close, code ProtocolViolation (9)", b"\x07\x09"),
    ("unknown_ignorable", "Kind 31 without must-understand: ignored", b"\x1f\x01\x02"),
    ("unknown_must_understand", "Kind 31 with must-understand: a protocol violation", b"\x9f\x01\x02"),
    # Streams (feature 1). Call id 8: slot 0 of 4, third epoch.
    ("open_server_stream", "Open id 8, procedure 5 (count), mode 2 (server stream), depth 0, no timeout, "
                           "arguments (3)", b"\x08\x08\x05\x02\x00" + varint(3)),
    ("item_from_server", "Item on call 8 from the server (FLAG: on a call the receiver made): sequence 0, "
                         "item 0", b"\x29\x08\x00" + varint(0)),
    ("credit_from_caller", "Credit on call 8 from the caller: 4 more items", b"\x0a\x08\x04"),
    ("items_from_server", "Items on call 8 from the server (FLAG): sequence 1, three items packed in one frame, "
                          "each a length then its bytes: (1), (2), (3)",
     b"\x2c\x08\x01" + b"\x01" + varint(1) + b"\x01" + varint(2) + b"\x01" + varint(3)),
    ("end_from_server", "End on call 8 from the server (FLAG): its items are over, 4 of them (the next "
                        "sequence number)", b"\x2b\x08\x04"),
    ("reply_stream_end", "Reply id 8, result () (empty): the end of the stream", b"\x03\x08"),
    ("open_bidi_timeout", "Open id 12, procedure 6, mode 3 (bidirectional), depth 0, timeout 2000 ms (FLAG), "
                          "no arguments", b"\x28\x0c\x06\x03\x00" + varint(2000)),
    ("item_from_caller", "Item on call 12 from the caller: sequence 0, bytes 07 07", b"\x09\x0c\x00\x07\x07"),
    ("credit_from_server", "Credit on call 12 from the server (FLAG): 4 more items", b"\x2a\x0c\x04"),
    ("end_items", "End on call 12 from the caller: its items are over, 1 of them", b"\x0b\x0c\x01"),
    ("cancel_flow_control", "Cancel id 12 with a reason: FlowControl (14), the server overran its credit",
     b"\x05\x0c\x0e"),
    ("error_flow_control", "Error id 12, FlowControl (14): the caller overran its credit", b"\x04\x0c\x0e"),
    ("cancel_item_lost", "Cancel id 8 with a reason: ItemLost (16), an item arrived out of sequence",
     b"\x05\x08\x10"),
    ("open_nested", "Open id 1, procedure 0 (add), mode 0 (plain call), depth 1 (made while serving a request of "
                    "the peer), arguments (1, 2)", b"\x08\x01\x00\x00\x01" + ADD_1_2),
    ("error_too_deep", "Error id 1, TooDeep (15)", b"\x04\x01\x0f"),
    ("request_long", "Request id 2, procedure 1, 300 argument bytes without a zero (COBS 0xFF blocks)",
     b"\x02\x02\x01" + LONG),
]

# Schema discovery (feature 2): the demo service's manifest, as docs/PROTOCOL.md section 10.1
# quotes it, served by a device whose frames are at most 64 bytes (so it takes two pieces).
DEMO_MANIFEST = bytes.fromhex(
    "01 04 64 65 6d 6f 06 00 03 61 64 64 00 02 01 61 09 01 62 09 09 01 04 65"
    "63 68 6f 00 01 04 64 61 74 61 11 c8 01 02 11 c8 01 02 02 04 66 61 69 6c"
    "00 00 00 03 04 68 75 67 65 00 00 11 80 08 02 04 05 73 6c 65 65 70 00 01"
    "02 6d 73 04 00 05 05 63 6f 75 6e 74 02 01 01 6e 04 00 04".replace(" ", ""))


def schema_hash(manifest: bytes) -> int:
    return crc32c(manifest) or 1


PIECE = 64 - 4 - 3  # frame limit, CRC, header + total + offset varints (one byte each here)
FRAMES += [
    ("hello_manifest", "Hello from a device serving the demo manifest: features 7 (call timeout, streams, manifest), "
                       "max_frame 64, 4 in, 4 out, keepalive 1000 ms, schema = the manifest's hash, call timeout "
                       "5000 ms, stream window 8",
     hello(False, 1, 1, 7, 64, 4, 4, 1000, schema_hash(DEMO_MANIFEST), 5000, 8)),
    ("manifest_request", "Manifest request from offset 0", b"\x0e" + varint(0)),
    ("manifest_piece_first", "Manifest piece (FLAG): total 91, offset 0, the first 57 bytes (all a 64-byte frame holds)",
     b"\x2e" + varint(len(DEMO_MANIFEST)) + varint(0) + DEMO_MANIFEST[:PIECE]),
    ("manifest_request_rest", "Manifest request from offset 57", b"\x0e" + varint(PIECE)),
    ("manifest_piece_rest", "Manifest piece (FLAG): total 91, offset 57, the last 34 bytes",
     b"\x2e" + varint(len(DEMO_MANIFEST)) + varint(PIECE) + DEMO_MANIFEST[PIECE:]),
    ("manifest_piece_past_end", "Manifest piece for a request past the end (offset 200): total 91, no bytes",
     b"\x2e" + varint(len(DEMO_MANIFEST)) + varint(200)),
]

# Remote handles (feature 3): the demo service's `open(name) -> handle Channel` (procedure 6)
# and the Channel's methods read (0) and configure (1), between a host (call ids of a
# 16-slot table: 0, 1, then 16, 32, 48 as slot 0 is reused) and a device with 4 export slots.
# A handle is two varints, slot and generation; generation 0 names a promise.
def invoke(call_id, method, slot, generation, timeout_ms=None, args=b""):
    head = b"\x30" if timeout_ms is not None else b"\x10"
    body = head + varint(call_id) + varint(method) + varint(slot) + varint(generation)
    if timeout_ms is not None:
        body += varint(timeout_ms)
    return body + args


def handle(slot, generation):
    return varint(slot) + varint(generation)


def string(text):
    return varint(len(text)) + text.encode()


FRAMES += [
    ("hello_handles", "Hello from a device speaking handles: features 11 (call timeout, streams, handles), max_frame 256, "
                      "4 in, 4 out, keepalive 1000 ms, schema 0x12345678, call timeout 5000 ms, stream window 8, "
                      "4 export slots",
     hello(False, 1, 1, 11, 256, 4, 4, 1000, 0x12345678, 5000, 8, 4)),
    ("hello_handles_reply", "Hello reply from a host speaking handles: features 11, max_frame 1024, 16 in, 16 out, "
                            "keepalive 1000 ms, no schema, call timeout 5000 ms, stream window 8, 4 export slots",
     hello(True, 1, 1, 11, 1024, 16, 16, 1000, 0, 5000, 8, 4)),
    ("request_open", "Request id 0, procedure 6 (open), arguments (\"temp\"): a constructor, its answer a handle",
     b"\x02\x00\x06" + string("temp")),
    ("invoke_promise", "Invoke id 1, method 0 (read) on a promise: slot 0 is the call id whose answer it names, "
                       "generation 0; sent before that answer arrives (pipelining)", invoke(1, 0, 0, 0)),
    ("reply_handle", "Reply id 0: the handle of the new object, slot 0, generation 1", b"\x03\x00" + handle(0, 1)),
    ("reply_read", "Reply id 1: read() = 1 (the promise resolved to the object of call 0)", b"\x03\x01" + zigzag(1)),
    ("invoke_timeout", "Invoke id 16, method 1 (configure) on handle (0, 1), timeout 1500 ms (FLAG), arguments (10)",
     invoke(16, 1, 0, 1, 1500, zigzag(10))),
    ("reply_configure", "Reply id 16: configure(10) = 1 (the previous scale)", b"\x03\x10" + zigzag(1)),
    ("release", "Release (from the holder) of handle (0, 1)", b"\x0d" + handle(0, 1)),
    ("invoke", "Invoke id 32, method 0 (read) on handle (0, 1), no timeout, no arguments", invoke(32, 0, 0, 1)),
    ("error_stale_handle", "Error id 32, StaleHandle (17): handle (0, 1) was released", b"\x04\x20\x11"),
    ("request_open_log", "Request id 48, procedure 6 (open), arguments (\"log\")", b"\x02\x30\x06" + string("log")),
    ("reply_handle_reused", "Reply id 48: the handle (0, 2), slot 0 again at its next generation",
     b"\x03\x30" + handle(0, 2)),
    ("revoke", "Revoke (from the exporter, FLAG) of handle (0, 2), code Revoked (19), reason 'unplugged'",
     b"\x2d" + handle(0, 2) + b"\x13" + b"unplugged"),
    ("error_too_many_handles", "Error id 1, TooManyHandles (18): every export slot is taken", b"\x04\x01\x12"),
]

VALID_AFTER = frame(b"\x02\x09\x00" + ADD_1_2)  # Request id 9, add(1, 2)

BROKEN = [
    ("bad_crc", "last CRC byte inverted", frame(b"\x02\x00\x00" + ADD_1_2)[:-2] + bytes([frame(b"\x02\x00\x00" + ADD_1_2)[-2] ^ 0xFF]) + b"\x00", "crc_errors"),
    ("truncated_cobs", "code byte 0x05 promises 4 bytes, the delimiter comes after 2", b"\x00\x05\x01\x02\x00", "framing_errors"),
    ("too_short", "one data byte: shorter than header + CRC", b"\x00\x02\x01\x00", "framing_errors"),
    ("oversized", "a 300-byte run to a 256-byte receiver, a valid frame hidden in its tail without a delimiter",
     b"\x00" + b"\x11" * 300 + VALID_AFTER[1:-1] + b"\x00", "oversized_frames"),
    ("malformed_varint", "valid CRC, Request whose id varint never ends", frame(b"\x02\x80"), "protocol_errors"),
    ("noise", "random bytes that decode to a 6-byte frame whose CRC does not match", b"\x00\x07\x13\x37\xff\x42\xaa\xbb\x00", "crc_errors"),
]


def named(name: str) -> bytes:
    return next(b for n, _, b in FRAMES if n == name)


def hexs(b: bytes) -> str:
    return b.hex()


def main():
    assert crc32c(b"123456789") == 0xE3069283
    doc = {
        "about": "Byte-exact vectors of the wirecall protocol version 1 (docs/PROTOCOL.md). "
                 "'body' is the decoded frame without CRC; 'wire' is what travels, both delimiters included. "
                 "Generated by tests/vectors/generate.py.",
        "crc32c_check": {"input": "123456789", "crc": "e3069283"},
        "frames": [{"name": n, "about": a, "body": hexs(b), "wire": hexs(frame(b))} for n, a, b in FRAMES],
        "broken": [{"name": n, "about": a, "wire": hexs(w), "counter": c,
                    "then": hexs(VALID_AFTER), "then_must_deliver": "Request id 9, procedure 0, arguments 0204"}
                   for n, a, w, c in BROKEN],
        "add_exchange": {
            "about": "add(1, 2): request and reply, framing, CRC and delimiters included",
            "request_wire": hexs(frame(named("request_add"))),
            "reply_wire": hexs(frame(named("reply_add"))),
            "total_bytes": len(frame(named("request_add"))) + len(frame(named("reply_add"))),
        },
    }
    out = pathlib.Path(__file__).with_name("wire.json")
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}: add(1, 2) costs {doc['add_exchange']['total_bytes']} bytes")


if __name__ == "__main__":
    main()
