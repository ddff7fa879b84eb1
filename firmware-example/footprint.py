#!/usr/bin/env python3
"""Footprint of the example firmware: `python3 footprint.py` (builds it first).

Flash is every section loaded into flash (vector table, code, read-only data, initial
values of .data); static RAM is .data + .bss + .uninit, everything the image reserves at
link time (the endpoint and its buffers are in a static, so they are included; the stack is
not). "The core alone" is measured, not attributed: with LTO most of the core is inlined
into its caller, so symbol names cannot say what is the core's. Instead two small programs
are built with the same settings, `examples/empty.rs` (nothing) and `examples/core_only.rs`
(one endpoint with every input, command and output reachable), and the table gives their
difference.
"""
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ELF = HERE / "target/thumbv7m-none-eabi/release/firmware-example"
EXAMPLES = HERE / "target/thumbv7m-none-eabi/release/examples"
# 20 KiB of flash since issue 7 (was 16): the input path that costs a few instructions per
# byte whatever the table sizes, the per-peer limits and budgets, and the call-timeout
# feature took the firmware from 14.8 to 18.1 KB (docs/BENCHMARKS.md says what grew).
# 26 KiB since issue 8: streams with credit flow control, idle timeouts and nested calls
# cost the core 2.9 KB (12.3 -> 15.2 KB); the sensor stream and the callback 3.7 KB more.
# 29 KiB since issue 14: the core's remote handles took the firmware from 26,320 to 26,600
# B before it used them, and its sensor channels (handles exported, called, released and
# revoked, and the interface in the manifest) to 28,736 B (docs/FIRMWARE.md says where).
BUDGET_FLASH, BUDGET_RAM = 29 * 1024, 4 * 1024


def sections(path):
    out = subprocess.run(["size", "-A", str(path)], check=True, capture_output=True, text=True).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+", out, re.M)}


def image(path):
    """(flash, static RAM) of an ELF."""
    s = sections(path)
    flash = sum(s.get(k, 0) for k in (".vector_table", ".text", ".rodata", ".data"))
    ram = sum(s.get(k, 0) for k in (".data", ".bss", ".uninit"))
    return flash, ram


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins", "--examples"], cwd=HERE, check=True)
    flash, ram = image(ELF)
    base_flash, base_ram = image(EXAMPLES / "empty")
    core_flash, core_ram = image(EXAMPLES / "core_only")
    print("| what | flash (bytes) | static RAM (bytes) |")
    print("|---|---:|---:|")
    print(f"| the example firmware (UART, SysTick, service, endpoint) | {flash:,} | {ram:,} |")
    print(f"| budget for the example firmware | {BUDGET_FLASH:,} | {BUDGET_RAM:,} |")
    print(f"| the core alone (`core_only` minus `empty`), `Endpoint<256, 4, 4, 576>` | {core_flash - base_flash:,} | {core_ram - base_ram:,} |")
    print(f"| an empty firmware (runtime and vector table: the baseline) | {base_flash:,} | {base_ram:,} |")
    ok = flash <= BUDGET_FLASH and ram <= BUDGET_RAM
    print(f"\nwithin budget: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
