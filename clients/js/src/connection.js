// One WebSocket connection: envelopes in and out, requests matched to their
// PUB_ACK by (subSignal, messageId), pushes handed to one observer.
// No reconnect, heartbeat or resend here: see ChatClient.

import { CODE_ONLY, HEARTBEAT, connectAckCode, decodeEnvelope, encodeEnvelope } from './protocol.js';

/** The server refused a request (WebSocket replies carry no reason). */
export class RequestFailed extends Error {
  constructor(subSignal, message, code = 2) {
    super(message || `${subSignal} failed`);
    this.name = 'RequestFailed';
    this.subSignal = subSignal;
    this.code = code;
  }
}

/** The connection closed before the reply came. */
export class ConnectionLost extends RequestFailed {
  constructor(subSignal = '') {
    super(subSignal, 'connection lost', 4);
    this.name = 'ConnectionLost';
  }
}

/** No reply in time. */
export class RequestTimeout extends RequestFailed {
  constructor(subSignal) {
    super(subSignal, `no reply to ${subSignal}`, 249);
    this.name = 'RequestTimeout';
  }
}

export class Connection {
  /**
   * @param {any} socket an open WebSocket (browser or the `ws` package)
   * @param {{setTimeout: Function, clearTimeout: Function}} clock
   */
  constructor(socket, clock) {
    this.socket = socket;
    this.clock = clock;
    this._nextId = 0;
    /** @type {Map<string, {resolve: Function, reject: Function, timer: any}>} */
    this._pending = new Map();
    this._connectWaiter = null;
    this.onPush = () => {};
    this.isClosed = false;
    /** @type {Promise<void>} */
    this.closed = new Promise((resolve) => { this._closedResolve = resolve; });
    socket.onmessage = (event) => this._received(event.data);
    socket.onclose = () => this._lost();
    socket.onerror = () => {};
  }

  /**
   * Open a WebSocket to `url`.
   * @returns {Promise<Connection>}
   */
  static open(url, WebSocketImpl, clock, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      let socket;
      try {
        socket = new WebSocketImpl(url);
      } catch (e) {
        reject(e);
        return;
      }
      const timer = clock.setTimeout(() => {
        try { socket.close(); } catch (e) { /* already closed */ }
        reject(new Error(`no WebSocket to ${url} after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.onopen = () => {
        clock.clearTimeout(timer);
        resolve(new Connection(socket, clock));
      };
      socket.onerror = () => {};
      socket.onclose = () => {
        clock.clearTimeout(timer);
        reject(new Error(`WebSocket to ${url} closed`));
      };
    });
  }

  _send(signal, subSignal, messageId, content) {
    if (this.isClosed) throw new ConnectionLost(subSignal);
    this.socket.send(encodeEnvelope(signal, subSignal, messageId, content));
  }

  /**
   * CONNECT and wait for the CONNECT_ACK.
   * @returns {Promise<{code: number, messageHead: number, friendHead: number}>}
   */
  connect(uid, password, clientId, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this._connectWaiter = null;
        reject(new RequestTimeout('CONNECT'));
      }, timeoutMs);
      this._connectWaiter = {
        resolve: (ack) => { this.clock.clearTimeout(timer); resolve(ack); },
        reject: (e) => { this.clock.clearTimeout(timer); reject(e); },
      };
      try {
        this._send('CONNECT', 'NONE', 0, { userName: uid, password, clientIdentifier: clientId });
      } catch (e) {
        this._connectWaiter.reject(e);
        this._connectWaiter = null;
      }
    });
  }

  /**
   * Send one PUBLISH request and wait for its PUB_ACK.
   * @param {string} subSignal e.g. "MS"
   * @param {any} content
   * @returns {Promise<any>} the reply's parsed content (undefined for code-only subsignals)
   */
  request(subSignal, content, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      if (this.isClosed) {
        reject(new ConnectionLost(subSignal));
        return;
      }
      this._nextId = (this._nextId % 65535) + 1;
      const messageId = this._nextId;
      const key = `${subSignal}:${messageId}`;
      const timer = this.clock.setTimeout(() => {
        if (this._pending.delete(key)) reject(new RequestTimeout(subSignal));
      }, timeoutMs);
      this._pending.set(key, { resolve, reject, timer, subSignal });
      this._send('PUBLISH', subSignal, messageId, content === undefined ? {} : content);
    });
  }

  /** The web client's heartbeat frame (never answered). */
  heartbeat() {
    if (!this.isClosed) this.socket.send(HEARTBEAT);
  }

  /** DISCONNECT (clearSession logs the device out), then close. */
  disconnect(clearSession = false) {
    try {
      this._send('DISCONNECT', 'NONE', 0, { clearSession: clearSession ? 1 : 0 });
    } catch (e) { /* closed already */ }
    this.close();
  }

  close() {
    try { this.socket.close(); } catch (e) { /* closed already */ }
    this._lost();
  }

  _received(data) {
    if (typeof data !== 'string') return; // the protocol has text frames only
    let env;
    try {
      env = decodeEnvelope(data);
    } catch (e) {
      return; // a malformed frame is dropped, as the server does
    }
    if (env.signal === 'CONNECT_ACK') {
      const waiter = this._connectWaiter;
      this._connectWaiter = null;
      if (waiter) {
        const v = env.value || {};
        waiter.resolve({ code: connectAckCode(env.subSignal), messageHead: Number(v.messageHead || 0),
          friendHead: Number(v.friendHead || 0) });
      }
      return;
    }
    const key = `${env.subSignal}:${env.messageId}`;
    if (env.signal === 'PUB_ACK' && this._pending.has(key)) {
      const p = this._pending.get(key);
      this._pending.delete(key);
      this.clock.clearTimeout(p.timer);
      if (env.failed) {
        p.reject(new RequestFailed(env.subSignal));
      } else if (CODE_ONLY.has(env.subSignal)) {
        if (env.value && Number(env.value.code) === 200) p.resolve(undefined);
        else p.reject(new RequestFailed(env.subSignal));
      } else {
        p.resolve(env.value);
      }
      return;
    }
    if (env.signal === 'PUBLISH' || (env.signal === 'PUB_ACK' && env.subSignal === 'MP' && env.messageId === 0)) {
      try {
        this.onPush(env);
      } catch (e) {
        // an observer's bug must not break the connection
        if (typeof console !== 'undefined') console.error('fxim: push observer failed', e);
      }
    }
  }

  _lost() {
    if (this.isClosed) return;
    this.isClosed = true;
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const p of pending) {
      this.clock.clearTimeout(p.timer);
      p.reject(new ConnectionLost(p.subSignal));
    }
    if (this._connectWaiter) {
      this._connectWaiter.reject(new ConnectionLost('CONNECT'));
      this._connectWaiter = null;
    }
    this._closedResolve();
  }
}
