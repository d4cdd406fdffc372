// ChatClient: a logged-in device that stays connected, with the same model as
// fxim's Python ChatClient (fxim/client/session.py): reconnect with backoff and
// jitter, heartbeat, an outbox resent with the same local ids, and MN-driven
// pulls that never skip or repeat a message.

import { Backoff } from './backoff.js';
import { Connection, ConnectionLost, RequestFailed, RequestTimeout } from './connection.js';
import { makePassword } from './crypto.js';
import { login as httpLogin, putBytes, sendCode as httpSendCode } from './http.js';
import {
  ContentType, ConversationType, FATAL_CONNECT, MediaType, TRANSPARENT_TYPES,
  friendFromJson, friendRequestFromJson, groupEvent, groupInfoFromJson, groupMemberFromJson,
  messageFromJson, receiptFromJson, sendMessageJson, userFromJson,
} from './protocol.js';
import { AgentStreams } from './agents.js';

/** Connection states, as reported to `on('state', f)`. */
export const State = Object.freeze({
  CONNECTING: 'connecting', CONNECTED: 'connected', DISCONNECTED: 'disconnected',
  STOPPED: 'stopped', UNAUTHORIZED: 'unauthorized',
});

/** Not connected (a transparent message, or the client is stopped). */
export class NotConnected extends Error {
  constructor(message = 'not connected') {
    super(message);
    this.name = 'NotConnected';
  }
}

/** The server refused the credentials (a CONNECT_ACK code that is final): log in again. */
export class Unauthorized extends Error {
  constructor(code) {
    super(`CONNECT refused with ${code}`);
    this.name = 'Unauthorized';
    this.code = code;
  }
}

const SAFE_KEY = /[^A-Za-z0-9._-]+/g;
const MY_INFO = { displayName: 0, portrait: 1, gender: 2, mobile: 3, email: 4, address: 5,
  company: 6, social: 7, extra: 8 };

const defaultClock = {
  now: () => Date.now(),
  setTimeout: (f, ms) => setTimeout(f, ms),
  clearTimeout: (t) => clearTimeout(t),
};

/** The conversation with a user, or a group. */
export function conversation(target, group = false) {
  return { type: group ? ConversationType.GROUP : ConversationType.PRIVATE, target, line: 0 };
}

class RecentUids {
  constructor(size = 10000) {
    this.size = size;
    this.set = new Set();
  }

  add(uid) {
    if (this.set.has(uid)) return false;
    this.set.add(uid);
    if (this.set.size > this.size) this.set.delete(this.set.values().next().value);
    return true;
  }
}

/**
 * @typedef {object} ChatClientOptions
 * @property {string} [httpUrl] base of the login API, e.g. "http://127.0.0.1:8081"
 * @property {string} wsUrl the WebSocket URL, e.g. "ws://127.0.0.1:8081/ws"
 * @property {import('./http.js').Credentials} [credentials] from an earlier login
 * @property {any} [WebSocket] the WebSocket constructor (default: globalThis.WebSocket)
 * @property {typeof fetch} [fetch]
 * @property {Crypto} [crypto] a WebCrypto implementation (default: globalThis.crypto)
 * @property {Backoff} [backoff]
 * @property {number} [heartbeatInterval] seconds between heartbeat frames (default 25)
 * @property {number} [requestTimeout] seconds (default 10)
 * @property {number} [lastSeq] resume pulling after this seq
 * @property {number} [lastLocalId] the last local id used (ids always grow)
 * @property {{now: () => number, setTimeout: Function, clearTimeout: Function}} [clock]
 * @property {boolean} [autoSync] pull at connect and after each MN (default true)
 * @property {number} [reportSeq] resume pulling delivery/read reports after this seq
 */

export class ChatClient {
  /** @param {ChatClientOptions} options */
  constructor(options) {
    this.httpUrl = options.httpUrl || '';
    this.wsUrl = options.wsUrl;
    this.credentials = options.credentials || null;
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.fetch = options.fetch || ((...args) => globalThis.fetch(...args));
    this.crypto = options.crypto;
    this.backoff = options.backoff || new Backoff();
    this.heartbeatInterval = options.heartbeatInterval ?? 25;
    this.requestTimeout = options.requestTimeout ?? 10;
    this.lastSeq = options.lastSeq || 0;
    this.lastLocalId = options.lastLocalId || 0;
    this.clock = options.clock || defaultClock;
    this.autoSync = options.autoSync ?? true;
    this.state = State.STOPPED;
    /** @type {Connection | null} */
    this.connection = null;
    this.attempt = 0;
    this.nextRetryDelay = null;
    this.resent = 0;
    this.friendVersion = 0;
    this.friendRequestVersion = 0;
    /** Groups learned from pulled group messages: id -> name. */
    this.groups = new Map();
    this._observers = new Map();
    /** @type {Map<number, {message: object, resolve: Function, reject: Function, inFlight: boolean, attempts: number}>} */
    this._outbox = new Map();
    this._seen = new RecentUids();
    this._running = false;
    this._retryTimer = null;
    this._heartbeatTimer = null;
    this._waiters = [];
    this._pulling = false;
    this._pullAgain = false;
    this._syncWaiters = [];
    this._friendPull = null; // see _coalesced
    this._friendRequestPull = null;
    /** The last delivery/read report seq pulled (MRP `current`). */
    this.reportSeq = options.reportSeq || 0;
    /** The newest date seen per (kind, reporter, conversation): a report is announced once. */
    this._receipts = new Map();
    this._reportPull = null;
    this._agents = new AgentStreams((s) => this._fire('agentStream', s));
  }

  /** This device's user id (after login). */
  get uid() {
    return this.credentials ? this.credentials.uid : null;
  }

  // -- identity ---------------------------------------------------------------

  /** Ask for a login code (SMS or e-mail, as the server sends it). */
  sendCode(mobile) {
    return httpSendCode(this.httpUrl, mobile, this.fetch);
  }

  /**
   * Log in with a code; keeps the credentials.  Without a clientId the
   * current one is reused, or a new random one made.
   */
  async login(mobile, code, clientId) {
    const cid = clientId || (this.credentials && this.credentials.clientId) || randomClientId();
    this.credentials = await httpLogin(this.httpUrl, mobile, code, cid, this.fetch);
    return this.credentials;
  }

  // -- observers --------------------------------------------------------------

  /**
   * Observe events: "message" (each stored message, in seq order, once),
   * "recall" ({uid, fromUser}), "transparent" (typing and call signalling),
   * "friend", "friendRequest", "group" (GroupEvent), "state", "cursor" (the
   * new lastSeq, after its batch was delivered: save it), "sent" (a
   * SendResult with the message), and "push" ({subSignal, value}: any
   * other server push, e.g. plugin subsignals).
   * @returns {() => void} a function removing the observer
   */
  on(kind, observer) {
    if (!this._observers.has(kind)) this._observers.set(kind, new Set());
    this._observers.get(kind).add(observer);
    return () => this._observers.get(kind).delete(observer);
  }

  _fire(kind, value) {
    for (const f of [...(this._observers.get(kind) || [])]) {
      try {
        f(value);
      } catch (e) {
        if (typeof console !== 'undefined') console.error(`fxim: ${kind} observer failed`, e);
      }
    }
  }

  _setState(state) {
    if (this.state !== state) {
      this.state = state;
      this._fire('state', state);
    }
  }

  // -- lifecycle --------------------------------------------------------------

  /**
   * Connect, and stay connected until stop().  Resolves the first time the
   * client is connected; rejects with Unauthorized if the server refuses
   * the credentials.
   * @returns {Promise<void>}
   */
  start() {
    if (!this.credentials) return Promise.reject(new NotConnected('log in first'));
    const p = this.whenConnected();
    if (!this._running) {
      this._running = true;
      this._connectNow();
    }
    return p;
  }

  /** Resolves when connected. */
  whenConnected() {
    if (this.connection) return Promise.resolve();
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  _releaseWaiters(error) {
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) (error ? w.reject(error) : w.resolve());
  }

  _connectNow() {
    this._retryTimer = null;
    if (!this._running) return;
    this._setState(State.CONNECTING);
    this._connectOnce().catch((e) => {
      if (this._running && typeof console !== 'undefined' && console.debug) {
        console.debug('fxim: connect failed:', e && e.message);
      }
      this._scheduleReconnect();
    });
  }

  async _connectOnce() {
    const timeoutMs = this.requestTimeout * 1000;
    const conn = await Connection.open(this.wsUrl, this.WebSocket, this.clock, timeoutMs);
    if (!this._running) {
      conn.close();
      return;
    }
    conn.onPush = (env) => this._push(conn, env);
    const creds = this.credentials;
    let ack;
    let password;
    try {
      password = await makePassword(creds.token, this.clock.now(), this.crypto);
    } catch (e) {
      // A token that does not decode never will: log in again.
      conn.close();
      this._unauthorized(0);
      return;
    }
    try {
      ack = await conn.connect(creds.uid, password, creds.clientId, timeoutMs);
    } catch (e) {
      conn.close();
      throw e;
    }
    if (ack.code !== 1) {
      conn.close();
      if (FATAL_CONNECT.has(ack.code)) {
        this._unauthorized(ack.code);
        return;
      }
      throw new Error(`CONNECT refused with ${ack.code}`);
    }
    if (!this._running) {
      conn.close();
      return;
    }
    this.connection = conn;
    this.lastConnectAck = ack;
    this.attempt = 0;
    this.nextRetryDelay = null;
    this._setState(State.CONNECTED);
    this._scheduleHeartbeat(conn);
    this._releaseWaiters();
    this._flushOutbox(conn);
    if (this.autoSync) {
      this.sync();
      if (ack.friendHead > this.friendVersion) this.syncFriends();
      this.syncFriendRequests(); // the WebSocket ack carries no request head
      // Reports that arrived while this device was away: the server
      // announces them only with the next MRN, so pull once now.
      this.syncReports();
    }
    conn.closed.then(() => this._lost(conn));
  }

  _unauthorized(code) {
    this._running = false;
    this._setState(State.UNAUTHORIZED);
    this._releaseWaiters(new Unauthorized(code));
  }

  _lost(conn) {
    if (conn !== this.connection) return;
    this.connection = null;
    this._cancelHeartbeat();
    for (const entry of this._outbox.values()) entry.inFlight = false;
    if (this._running) this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (!this._running || this._retryTimer !== null) return;
    this._setState(State.DISCONNECTED);
    const delay = this.backoff.delay(this.attempt);
    this.attempt += 1;
    this.nextRetryDelay = delay;
    this._retryTimer = this.clock.setTimeout(() => this._connectNow(), delay * 1000);
  }

  /** Try to reconnect now instead of waiting for the backoff (e.g. the network came back). */
  reconnectNow() {
    if (this._running && !this.connection && this._retryTimer !== null) {
      this.clock.clearTimeout(this._retryTimer);
      this._connectNow();
    }
  }

  /**
   * Stop: no more reconnects or heartbeats; DISCONNECT (with logout,
   * clearSession: the token stops working) and close.  Unacknowledged
   * messages stay in the outbox and are resent if start() is called again.
   */
  async stop({ logout = false } = {}) {
    this._running = false;
    if (this._retryTimer !== null) this.clock.clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._cancelHeartbeat();
    const conn = this.connection;
    this.connection = null;
    this._setState(State.STOPPED);
    this._releaseWaiters(new NotConnected('stopped'));
    if (conn && !conn.isClosed) {
      conn.disconnect(logout);
      await conn.closed;
    }
  }

  /** Drop the connection now, as a network failure would (the client reconnects). */
  dropConnection() {
    if (this.connection) this.connection.close();
  }

  // -- heartbeat --------------------------------------------------------------

  _scheduleHeartbeat(conn) {
    this._cancelHeartbeat();
    if (this.heartbeatInterval > 0) {
      this._heartbeatTimer = this.clock.setTimeout(() => this._beat(conn), this.heartbeatInterval * 1000);
    }
  }

  _cancelHeartbeat() {
    if (this._heartbeatTimer !== null) this.clock.clearTimeout(this._heartbeatTimer);
    this._heartbeatTimer = null;
  }

  _beat(conn) {
    this._heartbeatTimer = null;
    if (conn !== this.connection) return;
    conn.heartbeat();
    this._scheduleHeartbeat(conn);
  }

  // -- sending ----------------------------------------------------------------

  _nextLocalId() {
    // Unique per device across runs: at least the time in ms, always growing.
    this.lastLocalId = Math.max(this.lastLocalId + 1, Math.floor(this.clock.now()));
    return this.lastLocalId;
  }

  /**
   * Send a message.  It gets a new local id and stays in the outbox until
   * the server acknowledges it: across drops it is resent with the same
   * local id, so the server stores it once.  Transparent content (typing,
   * call signalling) is not queued: sent only if connected now.
   * @param {import('./protocol.js').Conversation} conv
   * @param {import('./protocol.js').MessageContent} content
   * @param {{toUser?: string, to?: string[], localId?: number}} [options] localId: resend
   *   a message saved from an earlier run (see unacked()) under its own id
   * @returns {Promise<import('./protocol.js').SendResult>}
   */
  send(conv, content, { toUser = '', to = [], localId: given } = {}) {
    // A given local id resends a message kept across a page reload (the
    // server stores it once per device and local id).
    const localId = given || this._nextLocalId();
    if (given) this.lastLocalId = Math.max(this.lastLocalId, given);
    const message = { conversation: conv, from: this.uid || '', content, toUser, to, localId };
    const body = sendMessageJson(conv, this.uid || '', content, localId, toUser, to);
    if (TRANSPARENT_TYPES.has(content.type)) {
      if (!this.connection) return Promise.reject(new NotConnected('transparent messages are not queued'));
      return this.connection.request('MS', body, this.requestTimeout * 1000)
        .then((r) => ({ uid: String(r.messageId), timestamp: Number(r.timestamp), localId }));
    }
    return new Promise((resolve, reject) => {
      const entry = { message, body, resolve, reject, inFlight: false, attempts: 0 };
      this._outbox.set(localId, entry);
      if (this.connection) this._transmit(this.connection, entry);
    });
  }

  /** Send text to a user or (group) a group. */
  sendText(target, text, { group = false, mentions = [] } = {}) {
    return this.send(conversation(target, group), {
      type: ContentType.TEXT, searchableContent: text,
      mentionedType: mentions.length ? 1 : 0, mentionedTargets: mentions,
    });
  }

  /** Tell a user (or group) this user is typing: transparent type 91. */
  sendTyping(target, { group = false } = {}) {
    return this.send(conversation(target, group), { type: ContentType.TYPING });
  }

  /**
   * Upload an image, then send it.
   * @param {Blob|ArrayBuffer|Uint8Array} data
   * @param {{group?: boolean, filename?: string, onProgress?: Function}} [options]
   */
  async sendImage(target, data, { group = false, filename = 'image.jpg', onProgress } = {}) {
    const url = await this.upload(data, { filename, mediaType: MediaType.IMAGE, onProgress });
    return this.send(conversation(target, group), {
      type: ContentType.IMAGE, searchableContent: '[image]', content: filename,
      mediaType: MediaType.IMAGE, remoteMediaUrl: url,
    });
  }

  /**
   * Upload a file, then send it (searchableContent is its name, content its size).
   */
  async sendFile(target, data, { group = false, filename = 'file', onProgress } = {}) {
    const url = await this.upload(data, { filename, mediaType: MediaType.FILE, onProgress });
    const size = data.byteLength !== undefined ? data.byteLength : data.size;
    return this.send(conversation(target, group), {
      type: ContentType.FILE, searchableContent: filename, content: String(size),
      mediaType: MediaType.FILE, remoteMediaUrl: url,
    });
  }

  /** The messages sent but not yet acknowledged, oldest first. */
  unacked() {
    return [...this._outbox.values()].map((e) => e.message);
  }

  _flushOutbox(conn) {
    for (const entry of this._outbox.values()) {
      if (!entry.inFlight) this._transmit(conn, entry);
    }
  }

  _transmit(conn, entry) {
    entry.inFlight = true;
    entry.attempts += 1;
    if (entry.attempts > 1) this.resent += 1;
    const localId = entry.message.localId;
    conn.request('MS', entry.body, this.requestTimeout * 1000).then((r) => {
      this._outbox.delete(localId);
      const result = { uid: String(r.messageId), timestamp: Number(r.timestamp), localId };
      entry.resolve(result);
      this._fire('sent', { ...result, message: entry.message });
    }, (e) => {
      entry.inFlight = false;
      if (!this._outbox.has(localId)) return;
      if (e instanceof ConnectionLost) return; // resent after the reconnect
      if (e instanceof RequestTimeout) {
        if (conn === this.connection) this._transmit(conn, entry); // same local id: deduplicated
        return;
      }
      this._outbox.delete(localId);
      entry.reject(e);
    });
  }

  // -- receiving --------------------------------------------------------------

  _push(conn, env) {
    if (conn !== this.connection) return;
    const v = env.value || {};
    if (env.signal === 'PUB_ACK') {
      // A transparent message: an MP result with exactly one message.
      const list = v.messageResponseList || [];
      if (list.length === 1) this._fire('transparent', messageFromJson(list[0]));
      return;
    }
    switch (env.subSignal) {
      case 'MN':
        if (this.autoSync && Number(v.messageHead) > this.lastSeq) this.sync();
        break;
      case 'RMN':
        this._fire('recall', { uid: String(v.messageUid), fromUser: String(v.fromUser || '') });
        break;
      case 'FN':
        if (this.autoSync) this.syncFriends();
        break;
      case 'FRN':
        if (this.autoSync) this.syncFriendRequests();
        break;
      case 'MRN':
        if (this.autoSync) this.syncReports();
        break;
      case 'SAI':
        this._agents.frame(v);
        break;
      default:
        this._fire('push', { subSignal: env.subSignal, value: env.value });
    }
  }

  /**
   * Pull every message after lastSeq (done automatically at connect and
   * after each MN).  Resolves with lastSeq once caught up (or when a drop
   * stopped the pull: it resumes from the same seq after the reconnect).
   * @returns {Promise<number>}
   */
  sync() {
    const p = new Promise((resolve) => this._syncWaiters.push(resolve));
    if (this._pulling) this._pullAgain = true;
    else if (this.connection) this._pullLoop(this.connection);
    else this._fireSyncWaiters();
    return p;
  }

  _fireSyncWaiters() {
    const waiters = this._syncWaiters;
    this._syncWaiters = [];
    for (const resolve of waiters) resolve(this.lastSeq);
  }

  async _pullLoop(conn) {
    this._pulling = true;
    try {
      while (conn === this.connection) {
        this._pullAgain = false;
        const r = await conn.request('MP', {
          messageId: String(this.lastSeq), type: 0, pullType: 0, sendMessageCount: 0,
        }, this.requestTimeout * 1000);
        if (conn !== this.connection) break;
        const messages = ((r && r.messageResponseList) || []).map(messageFromJson);
        for (const m of messages) this._deliver(m);
        const current = Number(r && r.current);
        const head = Number(r && r.head);
        // The cursor moves only after the batch was delivered: a pull cut
        // by a drop is redone from the same seq.
        if (messages.length && current > this.lastSeq) {
          this.lastSeq = current;
          this._fire('cursor', this.lastSeq);
        }
        if (!this._pullAgain && (!messages.length || current >= head)) break;
      }
    } catch (e) {
      if (!(e instanceof ConnectionLost) && conn === this.connection) {
        conn.close(); // reconnect and pull again from lastSeq
      }
    } finally {
      this._pulling = false;
      this._fireSyncWaiters();
    }
  }

  _deliver(message) {
    if (!message.uid || !this._seen.add(message.uid)) return;
    if (message.conversation.type === ConversationType.GROUP) this._trackGroup(message);
    this._fire('message', message);
  }

  _trackGroup(message) {
    const event = groupEvent(message);
    const gid = message.conversation.target;
    if (!event) {
      if (!this.groups.has(gid)) this.groups.set(gid, '');
      return;
    }
    const mine = this.uid;
    if (event.kind === ContentType.DISMISS_GROUP
        || (event.kind === ContentType.QUIT_GROUP && event.operator === mine)
        || (event.kind === ContentType.KICKOFF_GROUP_MEMBER && event.members.includes(mine))) {
      this.groups.delete(event.groupId);
    } else if (event.name) {
      this.groups.set(event.groupId, event.name);
    } else if (!this.groups.has(event.groupId)) {
      this.groups.set(event.groupId, '');
    }
    this._fire('group', event);
  }

  /**
   * Run `pull` now, or once more after the one in flight: a notification
   * arriving during a pull may be newer than what that pull returns.
   */
  _coalesced(name, pull) {
    const state = this[name] || (this[name] = { running: null, again: false });
    if (state.running) {
      state.again = true;
      return state.running;
    }
    state.running = (async () => {
      try {
        do {
          state.again = false;
          try {
            await pull();
          } catch (e) { /* retried at the next notification or connect */ }
        } while (state.again && this._running);
      } finally {
        state.running = null;
      }
    })();
    return state.running;
  }

  // -- delivery and read reports ---------------------------------------------

  /**
   * Tell `peer` (1:1 only) that its messages up to `date` reached this device.
   * @param {string} peer
   * @param {number} date the newest timestamp of the peer's messages received
   */
  reportDelivered(peer, date) {
    return this.request('MDR', { date: Number(date), target: peer });
  }

  /**
   * Tell a conversation that its messages up to `date` were read.  In a
   * group, `tos` lists the senders to tell (the server tells nobody else).
   * @param {import('./protocol.js').Conversation} conversation
   * @param {number} date
   * @param {string[]} [tos]
   */
  reportRead(conversation, date, tos = []) {
    return this.request('MRR', { target: conversation.target, date: Number(date),
      type: conversation.type, line: conversation.line || 0, tos });
  }

  /**
   * Pull delivery/read reports after reportSeq (done at connect and after
   * each MRN).  Each report is announced once as a `receipt` event: the
   * server keeps the latest report per (reporter, conversation, kind), and
   * may send one again (its per-device cursor); one that is not newer
   * than what was announced is dropped.
   */
  syncReports() {
    return this._coalesced('_reportPull', async () => {
      const conn = this.connection;
      while (conn && conn === this.connection) {
        const r = await conn.request('MRP', { id: String(this.reportSeq + 1), type: 0 },
          this.requestTimeout * 1000);
        if (conn !== this.connection) return;
        const list = (r && r.messageReportList) || [];
        for (const raw of list) {
          const receipt = receiptFromJson(raw);
          if (!receipt) continue;
          const key = `${receipt.kind}|${receipt.uid}|${receipt.target}`;
          if ((this._receipts.get(key) ?? -1) >= receipt.date) continue;
          this._receipts.set(key, receipt.date);
          this._fire('receipt', receipt);
        }
        const current = Number(r && r.current);
        const head = Number(r && r.head);
        if (list.length && current > this.reportSeq) {
          this.reportSeq = current;
          this._fire('reportCursor', this.reportSeq);
        }
        // A capped result: the rest follows (the server also sends an MRN).
        if (!list.length || !(current < head)) return;
      }
    });
  }

  /** Pull friend changes since friendVersion (done after each FN). */
  syncFriends() {
    return this._coalesced('_friendPull', async () => {
      const list = await this.request('FP', { version: this.friendVersion });
      for (const f of (list || []).map(friendFromJson)) {
        this.friendVersion = Math.max(this.friendVersion, f.updateDt);
        this._fire('friend', f);
      }
    });
  }

  /** Pull friend-request changes since friendRequestVersion (done after each FRN). */
  syncFriendRequests() {
    return this._coalesced('_friendRequestPull', async () => {
      const v = this.friendRequestVersion;
      // The server subtracts 1000 from what the web client sends.
      const list = await this.request('FRP', { version: v <= 0 ? null : String(v + 1000) });
      for (const r of (list || []).map(friendRequestFromJson)) {
        this.friendRequestVersion = Math.max(this.friendRequestVersion, r.updateDt);
        this._fire('friendRequest', r);
      }
    });
  }

  // -- requests ---------------------------------------------------------------

  /**
   * Send one request by subsignal name once connected (waiting for a
   * reconnect if need be); not retried after a drop.  The typed calls
   * below use it; it is public for plugin subsignals.
   * @param {string} subSignal
   * @param {any} content
   */
  async request(subSignal, content) {
    if (!this.connection) {
      if (!this._running) throw new NotConnected('the client is not started');
      await this.whenConnected();
    }
    return this.connection.request(subSignal, content, this.requestTimeout * 1000);
  }

  /** Recall one of this user's messages. */
  async recall(uid) {
    await this.request('MR', { messageUid: String(uid) });
  }

  /**
   * One page of a conversation's stored messages, newest first, uid <
   * beforeUid ("0": the newest).  Page back with the last one's uid.
   */
  async history(conv, beforeUid = '0', count = 20) {
    const r = await this.request('LRM', {
      beforeUid: String(beforeUid), count,
      conversation: { conversationType: conv.type, target: conv.target, line: conv.line || 0 },
    });
    return ((r && r.messageResponseList) || []).map(messageFromJson);
  }

  /** Profiles of uids (unknown ones left out). */
  async users(uids) {
    if (!uids.length) return [];
    return ((await this.request('UPUI', [...uids])) || []).map(userFromJson);
  }

  /** Users with this exact mobile or e-mail (or, fuzzy, a name containing it). */
  async searchUsers(keyword, { fuzzy = true, page = 0 } = {}) {
    return ((await this.request('US', { keyword, fuzzy: fuzzy ? 1 : 0, page })) || []).map(userFromJson);
  }

  /** Change this user's profile: setMyInfo({displayName: "Ann", portrait: url}). */
  async setMyInfo(fields) {
    const entries = Object.entries(fields).map(([k, v]) => {
      if (!(k in MY_INFO)) throw new TypeError(`unknown profile field ${k}`);
      return { type: MY_INFO[k], value: String(v) };
    });
    await this.request('MMI', entries.length === 1 ? entries[0] : entries);
  }

  /** This user's friends (state normal, unless includeDeleted). */
  async friends({ includeDeleted = false } = {}) {
    const list = ((await this.request('FP', { version: 0 })) || []).map(friendFromJson);
    return includeDeleted ? list : list.filter((f) => f.state === 0);
  }

  /** Every friend request from or to this user. */
  async friendRequests() {
    return ((await this.request('FRP', { version: null })) || []).map(friendRequestFromJson);
  }

  async addFriend(uid, reason = '') {
    await this.request('FAR', { reason, targetUserId: uid });
  }

  async acceptFriend(uid) {
    await this.request('FHR', { targetUid: uid, status: 1 });
  }

  async rejectFriend(uid) {
    await this.request('FHR', { targetUid: uid, status: 2 });
  }

  async setFriendAlias(uid, alias) {
    await this.request('FALS', { reason: alias, targetUserId: uid });
  }

  /**
   * Create a group owned by this user.  The id is chosen here (WebSocket
   * acks carry none).
   * @returns {Promise<string>} the group id
   */
  async createGroup(name, memberIds = [], { groupId, portrait = '', extra = '' } = {}) {
    const gid = groupId || randomHex(16);
    const me = this.uid || '';
    const members = [{ memberId: me, alias: '', type: 2, updateDt: 0 }].concat(
      memberIds.filter((m) => m !== me).map((m) => ({ memberId: m, alias: '', type: 0, updateDt: 0 })));
    await this.request('GC', {
      groupInfo: { target: gid, name, portrait, owner: me, type: 0, memberCount: 0, extra, updateDt: 0 },
      groupMembers: members,
    });
    this.groups.set(gid, name);
    return gid;
  }

  /** Infos of the existing groups among ids. */
  async groupInfo(groupIds) {
    if (!groupIds.length) return [];
    return ((await this.request('GPGI', [...groupIds])) || []).map(groupInfoFromJson);
  }

  async groupMembers(groupId) {
    return ((await this.request('GPGM', { groupId, version: 0 })) || []).map(groupMemberFromJson);
  }

  async addGroupMembers(groupId, memberIds) {
    await this.request('GAM', {
      groupId, groupMembers: memberIds.map((m) => ({ memberId: m, alias: '', type: 0, updateDt: 0 })),
    });
  }

  async kickGroupMembers(groupId, memberIds) {
    await this.request('GKM', { groupId, memberIds: [...memberIds] });
  }

  async quitGroup(groupId) {
    await this.request('GQ', { groupId });
  }

  async dismissGroup(groupId) {
    await this.request('GD', { groupId });
  }

  /** Change a group's name, portrait and/or extra. */
  async modifyGroup(groupId, { name, portrait, extra } = {}) {
    for (const [type, value] of [[0, name], [1, portrait], [2, extra]]) {
      if (value !== undefined && value !== null) await this.request('GMI', { groupId, type, value });
    }
  }

  // -- media ------------------------------------------------------------------

  /**
   * Upload bytes (GMURL, then a PUT) under a fresh key made from filename.
   * @param {Blob|ArrayBuffer|Uint8Array} data
   * @param {{filename?: string, mediaType?: number, onProgress?: (sent: number, total: number) => void}} [options]
   * @returns {Promise<string>} the media URL to put in remoteMediaUrl
   */
  async upload(data, { filename = 'file', mediaType = MediaType.GENERAL, onProgress } = {}) {
    const safe = filename.replace(SAFE_KEY, '_').replace(/^\.+/, '').slice(0, 100) || 'file';
    const key = `${mediaType}-${(this.uid || 'u').replace(SAFE_KEY, '_')}-${this._nextLocalId()}-${safe}`;
    const target = await this.request('GMURL', { mediaType, key });
    const contentType = (data && data.type) || 'application/octet-stream';
    const browserPut = typeof XMLHttpRequest !== 'undefined';
    await putBytes(target.url, data, { onProgress, contentType, fetchImpl: browserPut ? undefined : this.fetch });
    return String(target.domain).replace(/\/$/, '') + '/' + key;
  }
}

function randomHex(n) {
  const bytes = new Uint8Array(Math.ceil(n / 2));
  globalThis.crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, n);
}

/** A new device id. */
export function randomClientId() {
  return `fxim-js-${randomHex(16)}`;
}

export { RequestFailed, ConnectionLost, RequestTimeout };
