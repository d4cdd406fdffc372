// Test doubles: a manual clock and an in-memory WebSocket whose "server"
// side the test drives.
import { decodeEnvelope } from '../src/protocol.js';

export class FakeClock {
  constructor(start = 1764547200000) {
    this.t = start;
    this.timers = new Map();
    this.nextId = 1;
  }

  now() { return this.t; }

  setTimeout(f, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, f });
    return id;
  }

  clearTimeout(id) { this.timers.delete(id); }

  /** Advance time, running due timers in order. */
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].f();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

/** Let pending promise callbacks (and WebCrypto) run. */
export async function flush(rounds = 20) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/**
 * A fake server: every new FakeSocket registers here; the test answers
 * what the client sent.
 */
export class FakeServer {
  constructor() {
    this.sockets = [];
    this.refuseOpen = false;
    const server = this;
    this.WebSocket = class FakeSocket {
      constructor(url) {
        this.url = url;
        this.sent = [];
        this.readyState = 0;
        server.sockets.push(this);
        setImmediate(() => {
          if (server.refuseOpen) {
            this.readyState = 3;
            this.onclose && this.onclose({});
          } else {
            this.readyState = 1;
            this.onopen && this.onopen({});
          }
        });
      }

      send(text) {
        if (this.readyState !== 1) throw new Error('not open');
        this.sent.push(text);
      }

      close() {
        if (this.readyState === 3) return;
        this.readyState = 3;
        setImmediate(() => this.onclose && this.onclose({}));
      }

      /** The server pushes a text frame. */
      deliver(obj) {
        this.onmessage && this.onmessage({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) });
      }

      /** Sent envelopes (parsed), except heartbeats. */
      envelopes() {
        return this.sent.filter((t) => t.startsWith('{')).map((t) => JSON.parse(t));
      }
    };
  }

  get last() { return this.sockets[this.sockets.length - 1]; }
}

/** The server's reply envelope to a request. */
export function reply(request, value) {
  return {
    content: value === '' ? '' : JSON.stringify(value),
    messageId: request.messageId,
    signal: 'PUB_ACK',
    subSignal: request.subSignal,
  };
}

export function connectAck(messageHead = '0', friendHead = 0) {
  return { content: JSON.stringify({ friendHead, messageHead }), messageId: 0, signal: 'CONNECT_ACK',
    subSignal: 'CONNECTION_ACCEPTED' };
}

export { decodeEnvelope };

/** Wait (in real time, at most 5 s) until cond() is true: WebCrypto runs off the event loop. */
export async function until(cond, what = 'condition') {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
  await flush();
}
