// Links in memory for tests where no real part can play the peer (a device that restarts
// with another firmware on the same line): two ends, bytes delivered asynchronously as a
// socket would, and taps that can be unplugged from an end to swap the peer behind it.

/** Two connected ends: what one writes, the other receives (on a later microtask). */
export function memoryPair() {
  const a = new End("memory a");
  const b = new End("memory b");
  a.other = b;
  b.other = a;
  return [a, b];
}

class End {
  constructor(name) {
    this.name = name;
    this.other = null;
    this.handlers = null;
    this.closed = false;
  }
  start(handlers) {
    this.handlers = handlers;
  }
  write(bytes) {
    const to = this.other;
    const copy = Uint8Array.from(bytes);
    queueMicrotask(() => { if (!to.closed) to.handlers?.data(copy); });
    return true;
  }
  pause() {}
  resume() {}
  close() {
    if (this.closed) return;
    this.closed = true;
    const to = this.other;
    queueMicrotask(() => {
      if (!to.closed) {
        to.closed = true;
        to.handlers?.close(null);
      }
    });
  }
}

/**
 * A view of `end` that can be unplugged: then it neither writes nor hears anything.
 * `onData(bytes)`, if given, sees what arrives first; false keeps it from the view.
 */
export function tap(end, { onData = () => true } = {}) {
  const view = {
    name: `${end.name} (tap)`,
    plugged: true,
    start(handlers) {
      end.start({
        data: (b) => view.plugged && onData(b) && view.plugged && handlers.data(b),
        close: (e) => view.plugged && handlers.close(e),
        drain: () => view.plugged && handlers.drain(),
      });
    },
    write: (bytes) => (view.plugged ? end.write(bytes) : true),
    pause() {},
    resume() {},
    close() {
      if (view.plugged) end.close();
    },
    unplug() {
      view.plugged = false;
    },
  };
  return view;
}
