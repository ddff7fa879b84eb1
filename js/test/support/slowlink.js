// Links in memory whose write returns false past a small high-water mark and drain later,
// as a Node socket does when the kernel's buffer is full: for the paths that wait for a
// drain, which a loopback socket reaches only under load that a test cannot stage.
export function slowPair(hwm = 4096) {
  const a = new End("slow a", hwm), b = new End("slow b", hwm);
  a.other = b; b.other = a;
  return [a, b];
}
class End {
  constructor(name, hwm) { this.name = name; this.hwm = hwm; this.pending = 0; this.handlers = null; this.closed = false; this.needDrain = false; }
  start(h) { this.handlers = h; }
  write(bytes) {
    const to = this.other, copy = Uint8Array.from(bytes);
    this.pending += copy.length;
    setTimeout(() => {
      this.pending -= copy.length;
      if (!to.closed) to.handlers?.data(copy);
      if (this.needDrain && this.pending === 0) { this.needDrain = false; this.handlers?.drain(); }
    }, 1);
    if (this.pending > this.hwm) { this.needDrain = true; return false; }
    return true;
  }
  pause() {} resume() {}
  close() { if (this.closed) return; this.closed = true; const to = this.other; setTimeout(() => { if (!to.closed) { to.closed = true; to.handlers?.close(null); } }, 0); }
}
