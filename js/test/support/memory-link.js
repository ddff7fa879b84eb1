// One end of an in-memory link (the face a Peer drives), for a device served by this
// process in tests: what the Peer writes goes to `send`, what the test feeds with `data`
// goes to the Peer.

/** A link whose bytes out go to `send(bytes)` and in come through `data(bytes)`. */
export class MemoryLink {
  constructor(name, send) {
    this.name = name;
    this.send = send;
    this.handlers = null;
    this.closed = false;
  }

  start(handlers) {
    this.handlers = handlers;
  }

  data(bytes) {
    if (!this.closed) this.handlers.data(bytes);
  }

  write(bytes) {
    if (!this.closed) this.send(bytes);
    return true;
  }

  pause() {}

  resume() {}

  close() {
    this.closed = true;
  }
}
