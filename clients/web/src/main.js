// fxim's web chat: one page on the fxim JavaScript SDK, no framework.
// Served by the node at / of its HTTP port; see docs/webchat.md.

import {
  Backoff, ChatClient, ContentType, LoginError, State, Unauthorized, conversation, groupEvent,
  randomClientId,
} from '../../js/src/index.js';
import { fill, h } from './dom.js';
import { initialLanguage, language, setLanguage, t } from './i18n.js';
import { clearState, loadState, saveState } from './store.js';

const HISTORY_PAGE = 20;
const TYPING_SHOW_MS = 5000;
const TYPING_SEND_EVERY_MS = 3000;

/** Everything the page knows; `st` is what survives a reload. */
const app = {
  cfg: null,
  st: {},
  client: null,
  tab: 'chats',
  open: null, // the open conversation key
  items: [], // the open conversation's messages, oldest first
  oldestUid: '0',
  noOlder: false,
  loadingOlder: false,
  friends: new Map(),
  requests: new Map(),
  streams: new Map(), // agent uid -> the agent's streamed reply in progress (AgentStream)
  readSent: new Map(), // conversation key -> newest date reported read
  typing: new Map(), // conversation key -> {uid, until}
  lastTypingSent: 0,
  membersOpen: false,
  upload: null, // {name, percent}
  searchResults: null,
  sentRequests: new Set(),
  notice: '',
};

const root = document.getElementById('app');

// -- boot -------------------------------------------------------------------

async function loadConfig() {
  let cfg = {};
  try {
    const r = await fetch('config.json', { cache: 'no-store' });
    if (r.ok) cfg = await r.json();
  } catch (e) {
    // served without fxim's /config.json: derive everything from the origin
  }
  const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    httpUrl: cfg.httpUrl || location.origin,
    wsUrl: cfg.wsUrl || `${wsScheme}//${location.host}${cfg.wsPath || '/ws'}`,
  };
}

async function boot() {
  app.cfg = await loadConfig();
  app.st = loadState();
  setLanguage(initialLanguage(app.st.lang));
  document.title = t('title');
  if (app.st.creds) startSession();
  else showLogin();
}

function save() {
  if (app.client) {
    app.st.lastSeq = app.client.lastSeq;
    app.st.lastLocalId = app.client.lastLocalId;
  }
  saveState(app.st);
}

// -- login ------------------------------------------------------------------

function showLogin(message = '') {
  const identity = h('input', { 'data-t': 'identity', type: 'text', autocomplete: 'username',
    placeholder: t('identity'), value: app.st.account || '' });
  const code = h('input', { 'data-t': 'code', type: 'text', inputmode: 'numeric',
    autocomplete: 'one-time-code', placeholder: t('code') });
  const status = h('p', { class: 'status', 'data-t': 'login-status' }, message);
  const client = () => new ChatClient({ httpUrl: app.cfg.httpUrl, wsUrl: app.cfg.wsUrl });

  async function sendCode() {
    const who = identity.value.trim();
    if (!who) return identity.focus();
    try {
      await client().sendCode(who);
      fill(status, t('codeSent', who));
      code.focus();
    } catch (e) {
      fill(status, t('failed', describeError(e)));
    }
  }

  async function doLogin(event) {
    event.preventDefault();
    const who = identity.value.trim();
    if (!who || !code.value.trim()) return;
    fill(status, t('loggingIn'));
    try {
      const c = client();
      const creds = await c.login(who, code.value.trim(), randomClientId());
      app.st = { creds, account: who, lang: app.st.lang, loginAt: Date.now(), lastSeq: 0,
        lastLocalId: 0, convs: {}, names: {}, groupNames: {}, outbox: [] };
      save();
      startSession();
    } catch (e) {
      fill(status, t('failed', describeError(e)));
    }
  }

  fill(root, h('form', { class: 'login', onsubmit: doLogin },
    h('div', { class: 'login-head' }, h('h1', {}, t('loginTitle')),
      languagePicker(() => showLogin(status.textContent))),
    h('label', {}, t('identity'), identity),
    h('div', { class: 'row' },
      h('label', { class: 'grow' }, t('code'), code),
      h('button', { type: 'button', 'data-t': 'send-code', onclick: sendCode }, t('sendCode'))),
    h('button', { type: 'submit', class: 'primary', 'data-t': 'login' }, t('login')),
    status));
  identity.focus();
}

function languagePicker(rerender) {
  const select = h('select', { 'data-t': 'lang', 'aria-label': t('language'), onchange: () => {
    app.st.lang = select.value;
    setLanguage(select.value);
    document.title = t('title');
    save();
    rerender();
  } }, h('option', { value: 'en' }, 'English'), h('option', { value: 'zh' }, '中文'));
  select.value = language();
  return select;
}

function describeError(e) {
  if (e instanceof LoginError) return e.message || `code ${e.code}`;
  return (e && e.message) || String(e);
}

// -- session ----------------------------------------------------------------

function startSession() {
  const st = app.st;
  st.convs = st.convs || {};
  st.names = st.names || {};
  st.groupNames = st.groupNames || {};
  st.outbox = st.outbox || [];
  app.everConnected = false;
  const client = new ChatClient({
    httpUrl: app.cfg.httpUrl, wsUrl: app.cfg.wsUrl, credentials: st.creds,
    lastSeq: st.lastSeq || 0, lastLocalId: st.lastLocalId || 0, reportSeq: st.reportSeq || 0,
    backoff: new Backoff({ initial: 1, maximum: 30 }),
  });
  app.client = client;
  for (const [gid, name] of Object.entries(st.groupNames)) client.groups.set(gid, name);
  client.on('message', onMessage);
  client.on('cursor', () => save());
  client.on('recall', onRecall);
  client.on('transparent', onTransparent);
  client.on('friend', (f) => { app.friends.set(f.uid, f); ensureNames([f.uid]); renderSide(); });
  client.on('friendRequest', (r) => {
    app.requests.set(`${r.from}>${r.to}`, r);
    ensureNames([r.from, r.to]);
    renderSide();
    renderTabs();
  });
  client.on('group', onGroupEvent);
  client.on('state', onState);
  st.receipts = st.receipts || {};
  client.on('receipt', onReceipt);
  client.on('reportCursor', (seq) => { st.reportSeq = seq; save(); });
  client.on('agentStream', onAgentStream);
  renderShell();
  // Messages queued before a reload: resent under their own local ids.
  for (const entry of st.outbox) transmit(entry);
  client.start().then(afterConnect, (e) => {
    if (e instanceof Unauthorized) endSession(t('unauthorized'));
  });
  document.addEventListener('visibilitychange', markOpenRead);
}

function afterConnect() {
  const client = app.client;
  client.friends().then((list) => {
    for (const f of list) app.friends.set(f.uid, f);
    ensureNames(list.map((f) => f.uid));
    renderSide();
  }).catch(() => {});
  const gids = [...client.groups.keys()];
  refreshGroups(gids);
  ensureNames([client.uid]);
}

async function refreshGroups(gids) {
  if (!gids.length) return;
  try {
    for (const g of await app.client.groupInfo(gids)) {
      app.st.groupNames[g.id] = g.name;
      app.client.groups.set(g.id, g.name);
    }
    save();
    renderSide();
    renderHeader();
  } catch (e) { /* names stay as they are */ }
}

async function endSession(message) {
  const client = app.client;
  app.client = null;
  if (client) await client.stop().catch(() => {});
  clearState({ lang: app.st.lang, account: app.st.account });
  app.st = loadState();
  Object.assign(app, { open: null, items: [], friends: new Map(), requests: new Map(), tab: 'chats' });
  showLogin(message);
}

function onState(state) {
  renderBanner();
  renderMeBar();
  if (state === State.CONNECTED) {
    app.everConnected = true;
    afterReconnect();
  }
  if (state === State.UNAUTHORIZED) endSession(t('unauthorized'));
}

let countdownTimer = null;

function afterReconnect() {
  // Reload what may have changed while offline in the open conversation.
  if (app.open && app.items.length === 0) loadOlder();
}

// -- conversations ------------------------------------------------------------

function keyOf(conv) {
  return `${conv.type}:${conv.target}`;
}

function convOf(key) {
  const [type, ...rest] = key.split(':');
  return conversation(rest.join(':'), type === '1');
}

/** The conversation a message belongs to, from this user's side. */
function messageKey(m) {
  const me = app.client.uid;
  if (m.conversation.type === 1) return keyOf(m.conversation);
  const peer = m.from === me ? m.conversation.target : m.from;
  return keyOf(conversation(peer, false));
}

function summary(m) {
  const c = m.content;
  switch (c.type) {
    case ContentType.TEXT: return c.searchableContent;
    case ContentType.IMAGE: return t('imageText');
    case ContentType.FILE: return t('fileText', c.searchableContent);
    case ContentType.RECALL: return t('recalled');
    case ContentType.TIP: return tipText(c);
    default: {
      const ev = groupEvent(m);
      return ev ? groupNotice(ev) : t('unsupported', c.type);
    }
  }
}

function touchConv(key, m) {
  const convs = app.st.convs;
  const entry = convs[key] || (convs[key] = { unread: 0, preview: '', ts: 0 });
  if (m.timestamp >= entry.ts) {
    entry.ts = m.timestamp;
    entry.preview = summary(m);
    entry.previewUid = m.uid;
  }
  return entry;
}

function isOpenAndSeen(key) {
  return app.open === key && document.visibilityState !== 'hidden';
}

/** Whether a group event takes this user out of the group. */
function leavesMe(ev) {
  const me = app.client.uid;
  return ev.kind === ContentType.DISMISS_GROUP
    || (ev.kind === ContentType.QUIT_GROUP && ev.operator === me)
    || (ev.kind === ContentType.KICKOFF_GROUP_MEMBER && ev.members.includes(me));
}

function onMessage(m) {
  const key = messageKey(m);
  const me = app.client.uid;
  const ev = m.conversation.type === 1 ? groupEvent(m) : null;
  if (ev && leavesMe(ev) && ev.operator === me) {
    // My own quit or dismiss: the conversation goes away (see onGroupEvent).
    delete app.st.convs[key];
    renderSide();
    return;
  }
  const entry = touchConv(key, m);
  const fresh = m.timestamp >= (app.st.loginAt || 0) - 1000;
  // Only what people wrote counts as unread (not tips, notices or recalls).
  if (m.from !== me && fresh && !isOpenAndSeen(key) && m.content.type < ContentType.RECALL) {
    entry.unread = (entry.unread || 0) + 1;
  }
  ensureNames([m.from]);
  if (m.conversation.type === 1 && !app.st.groupNames[m.conversation.target]) {
    refreshGroups([m.conversation.target]);
  }
  const typing = app.typing.get(key);
  if (typing && typing.uid === m.from) app.typing.delete(key); // they sent what they typed
  if (m.from !== me && m.conversation.type === 0 && m.content.type < ContentType.RECALL) {
    queueDelivered(m.from, m.timestamp);
  }
  // The stored answer of a finished agent stream replaces the streamed text.
  const stream = app.streams.get(m.from);
  if (stream && stream.final) app.streams.delete(m.from);
  if (key === app.open) {
    addItem({ ...m, pending: false });
    renderTyping();
    if (isOpenAndSeen(key)) reportOpenRead();
  }
  // Saved with the cursor (after the batch): see the "cursor" observer.
  renderSide();
  renderTabs();
}

// -- delivered/read marks (1:1 only) and streaming agent replies ---------------

/** Peers whose messages arrived, with the newest timestamp: one MDR each, shortly after. */
const pendingDelivered = new Map();
let deliveredTimer = null;

function queueDelivered(peer, ts) {
  pendingDelivered.set(peer, Math.max(pendingDelivered.get(peer) || 0, ts));
  if (!deliveredTimer) {
    // Coalesced: a login backlog sends one report per peer, not per message.
    deliveredTimer = setTimeout(() => {
      deliveredTimer = null;
      for (const [who, date] of pendingDelivered) app.client.reportDelivered(who, date).catch(() => {});
      pendingDelivered.clear();
    }, 200);
  }
}

/** The open 1:1 chat is on screen: report it read up to the newest message from the peer. */
function reportOpenRead() {
  const key = app.open;
  if (!key || !key.startsWith('0:') || !isOpenAndSeen(key)) return;
  const me = app.client.uid;
  let date = 0;
  for (const item of app.items) {
    if (item.from !== me && item.uid && item.timestamp > date) date = item.timestamp;
  }
  if (!date || (app.readSent.get(key) || 0) >= date) return;
  app.readSent.set(key, date);
  app.client.reportRead(convOf(key), date).catch(() => app.readSent.delete(key));
}

function onReceipt(r) {
  if (r.uid !== r.target) return; // a group read report: no marks in groups
  const entry = app.st.receipts[r.uid] || (app.st.receipts[r.uid] = { delivered: 0, read: 0 });
  entry[r.kind] = Math.max(entry[r.kind] || 0, r.date);
  // Read implies delivered (a report may be lost; the newest counts).
  if (r.kind === 'read') entry.delivered = Math.max(entry.delivered || 0, r.date);
  save();
  if (app.open === `0:${r.uid}`) renderMessages({ keepScroll: true });
}

/** The mark of my own 1:1 message: 'read', 'delivered' or ''. */
function markOf(item) {
  if (!app.open || !app.open.startsWith('0:') || item.from !== app.client.uid || !item.uid) return '';
  const r = app.st.receipts[app.open.slice(2)];
  if (!r) return '';
  if (r.read >= item.timestamp) return 'read';
  if (r.delivered >= item.timestamp) return 'delivered';
  return '';
}

function onAgentStream(s) {
  app.streams.set(s.agent, s);
  if (app.open === `0:${s.agent}`) renderMessages({ stickToBottom: true });
}

function streamRow(s) {
  return h('div', { class: 'msg', 'data-t': 'agent-stream', 'data-stream': s.id, 'data-final': String(s.final) },
    h('div', { class: 'bubble' }, h('span', { class: 'text streaming' }, s.text || '…')),
    h('div', { class: 'meta' }, h('span', {}, s.final ? t('agentDone') : t('agentTyping'))));
}

function onRecall({ uid }) {
  const item = app.items.find((i) => i.uid === uid);
  if (item) {
    item.content = { type: ContentType.RECALL };
    renderMessages({ keepScroll: true });
  }
  for (const entry of Object.values(app.st.convs)) {
    if (entry.previewUid === uid) entry.preview = t('recalled');
  }
  save();
  renderSide();
}

function onTransparent(m) {
  if (m.content.type !== ContentType.TYPING || m.from === app.client.uid) return;
  const key = messageKey(m);
  app.typing.set(key, { uid: m.from, until: Date.now() + TYPING_SHOW_MS });
  renderTyping();
  setTimeout(renderTyping, TYPING_SHOW_MS + 50);
}

function onGroupEvent(ev) {
  const st = app.st;
  const key = keyOf(conversation(ev.groupId, true));
  const me = app.client.uid;
  if (ev.name) st.groupNames[ev.groupId] = ev.name;
  if (leavesMe(ev)) {
    delete st.groupNames[ev.groupId];
    if (ev.operator === me) delete st.convs[key];
  }
  ensureNames([ev.operator, ...ev.members]);
  renderSide();
  if (app.open === key) renderHeader();
}

/** The server's fixed friend tips, in the page's language. */
const KNOWN_TIPS = {
  '以上是打招呼信息': 'tipGreeting',
  '你们已经成为好友了，现在可以开始聊天了': 'tipFriends',
};

function tipText(c) {
  const text = c.content || c.searchableContent;
  return KNOWN_TIPS[text] ? t(KNOWN_TIPS[text]) : text;
}

function groupNotice(ev) {
  const who = nameOf(ev.operator);
  const list = ev.members.map(nameOf).join(', ');
  switch (ev.kind) {
    case ContentType.CREATE_GROUP: return t('createdGroup', who, ev.name);
    case ContentType.ADD_GROUP_MEMBER: return t('addedMembers', who, list);
    case ContentType.KICKOFF_GROUP_MEMBER: return t('kicked', who, list);
    case ContentType.QUIT_GROUP: return t('quitGroup', who);
    case ContentType.DISMISS_GROUP: return t('dismissed', who);
    case ContentType.CHANGE_GROUP_NAME: return t('renamed', who, ev.name);
    default: return t('groupNotice');
  }
}

// -- names ------------------------------------------------------------------

const nameFetches = new Set();

function nameOf(uid) {
  if (!uid) return '';
  return app.st.names[uid] || uid;
}

function titleOf(key) {
  const conv = convOf(key);
  if (conv.type === 1) return app.st.groupNames[conv.target] || app.client.groups.get(conv.target) || conv.target;
  const f = app.friends.get(conv.target);
  return (f && f.alias) || nameOf(conv.target);
}

async function ensureNames(uids) {
  const missing = [...new Set(uids)].filter((u) => u && !app.st.names[u] && !nameFetches.has(u));
  if (!missing.length || !app.client) return;
  for (const u of missing) nameFetches.add(u);
  try {
    for (const u of await app.client.users(missing)) {
      app.st.names[u.uid] = u.displayName || u.name || u.mobile || u.email || u.uid;
      if (u.uid === app.client.uid) app.me = u;
    }
    save();
    renderMeBar();
    renderSide();
    renderHeader();
    renderMessages({ keepScroll: true });
  } catch (e) { /* try again next time */ } finally {
    for (const u of missing) nameFetches.delete(u);
  }
}

// -- the open conversation ----------------------------------------------------

function openConversation(key) {
  app.open = key;
  app.items = [];
  app.oldestUid = '0';
  app.noOlder = false;
  app.membersOpen = false;
  const entry = app.st.convs[key] || (app.st.convs[key] = { unread: 0, preview: '', ts: 0 });
  entry.unread = 0;
  // Messages still in the outbox for this conversation.
  for (const o of app.st.outbox) {
    if (keyOf(o.conv) === key) {
      app.items.push({ localId: o.localId, uid: '', from: app.client.uid, content: o.content,
        timestamp: o.ts, pending: true, conversation: o.conv });
    }
  }
  save();
  renderShell();
  loadOlder();
  const input = root.querySelector('[data-t=composer]');
  if (input && window.matchMedia('(min-width: 700px)').matches) input.focus();
}

function markOpenRead() {
  reportOpenRead();
  if (app.open && document.visibilityState !== 'hidden' && app.st.convs[app.open]) {
    app.st.convs[app.open].unread = 0;
    save();
    renderSide();
    renderTabs();
  }
}

async function loadOlder() {
  if (!app.open || app.loadingOlder || app.noOlder || !app.client) return;
  const key = app.open;
  app.loadingOlder = true;
  renderMessages({ keepScroll: true });
  try {
    const page = await app.client.history(convOf(key), app.oldestUid, HISTORY_PAGE);
    if (key !== app.open) return;
    if (page.length < HISTORY_PAGE) app.noOlder = true;
    if (page.length) app.oldestUid = page[page.length - 1].uid;
    const first = app.items.length === 0;
    for (const m of page) addItem({ ...m, pending: false }, false);
    ensureNames(page.map((m) => m.from));
    app.loadingOlder = false;
    renderMessages(first ? { toBottom: true } : { keepScroll: true, fromBottom: true });
    if (first) reportOpenRead();
  } catch (e) {
    app.loadingOlder = false;
    renderMessages({ keepScroll: true });
  }
}

function compareItems(a, b) {
  if (a.pending !== b.pending) return a.pending ? 1 : -1;
  if (a.uid && b.uid) {
    const x = BigInt(a.uid);
    const y = BigInt(b.uid);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a.timestamp - b.timestamp;
}

/** Add (or merge by uid) a message into the open conversation. */
function addItem(item, render = true) {
  if (item.uid) {
    const known = app.items.find((i) => i.uid === item.uid);
    if (known) {
      Object.assign(known, item, { pending: false });
      if (render) renderMessages({ keepScroll: true });
      return;
    }
  }
  app.items.push(item);
  app.items.sort(compareItems);
  if (render) renderMessages({ keepScroll: true, stickToBottom: true });
}

// -- sending ------------------------------------------------------------------

function nextLocalId() {
  // Through the SDK's counter, so ids always grow across reloads.
  app.client.lastLocalId = Math.max(app.client.lastLocalId + 1, Date.now());
  return app.client.lastLocalId;
}

function queue(conv, content) {
  const entry = { conv, content, localId: nextLocalId(), ts: Date.now() };
  app.st.outbox.push(entry);
  save();
  if (keyOf(conv) === app.open) {
    addItem({ localId: entry.localId, uid: '', from: app.client.uid, content, timestamp: entry.ts,
      pending: true, conversation: conv });
  }
  transmit(entry);
}

function transmit(entry) {
  app.client.send(entry.conv, entry.content, { localId: entry.localId }).then((r) => {
    app.st.outbox = app.st.outbox.filter((o) => o.localId !== entry.localId);
    const key = keyOf(entry.conv);
    touchConv(key, { uid: r.uid, timestamp: r.timestamp, content: entry.content, from: app.client.uid,
      conversation: entry.conv });
    save();
    if (key === app.open) {
      const mine = app.items.find((i) => i.localId === entry.localId);
      const pulled = app.items.find((i) => i.uid === r.uid);
      if (mine && pulled && pulled !== mine) app.items.splice(app.items.indexOf(mine), 1);
      else if (mine) Object.assign(mine, { uid: r.uid, timestamp: r.timestamp, pending: false });
      app.items.sort(compareItems);
      renderMessages({ keepScroll: true });
    }
    renderSide();
  }, (e) => {
    app.st.outbox = app.st.outbox.filter((o) => o.localId !== entry.localId);
    save();
    const mine = app.items.find((i) => i.localId === entry.localId);
    if (mine) {
      mine.failed = describeError(e);
      mine.pending = false;
      renderMessages({ keepScroll: true });
    }
  });
}

function sendText(input) {
  const text = input.value.trim();
  if (!text || !app.open) return;
  input.value = '';
  queue(convOf(app.open), { type: ContentType.TEXT, searchableContent: text });
}

async function sendUpload(file, kind) {
  if (!file || !app.open) return;
  const conv = convOf(app.open);
  const image = kind === 'image';
  app.upload = { name: file.name, percent: 0 };
  renderComposerStatus();
  try {
    const url = await app.client.upload(file, {
      filename: file.name, mediaType: image ? 1 : 4,
      onProgress: (sent, total) => {
        app.upload = { name: file.name, percent: total ? Math.round((100 * sent) / total) : 0 };
        renderComposerStatus();
      },
    });
    app.upload = null;
    renderComposerStatus();
    queue(conv, image
      ? { type: ContentType.IMAGE, searchableContent: '[image]', content: file.name, mediaType: 1, remoteMediaUrl: url }
      : { type: ContentType.FILE, searchableContent: file.name, content: String(file.size), mediaType: 4, remoteMediaUrl: url });
  } catch (e) {
    app.upload = { error: t('uploadFailed', describeError(e)) };
    renderComposerStatus();
  }
}

function typed() {
  const now = Date.now();
  if (!app.open || now - app.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  app.lastTypingSent = now;
  const conv = convOf(app.open);
  app.client.sendTyping(conv.target, { group: conv.type === 1 }).catch(() => {});
}

async function recall(item) {
  try {
    await app.client.recall(item.uid);
    onRecall({ uid: item.uid });
  } catch (e) {
    item.failed = describeError(e);
    renderMessages({ keepScroll: true });
  }
}

// -- rendering: the shell -------------------------------------------------------

function renderShell() {
  const narrowOpen = app.open ? ' has-open' : '';
  fill(root, h('div', { class: `shell${narrowOpen}` },
    h('div', { class: 'banner hidden', 'data-t': 'banner', role: 'status' }),
    h('aside', { class: 'side' },
      h('div', { class: 'me-bar', 'data-t': 'me-bar' }),
      h('nav', { class: 'tabs', 'data-t': 'tabs' }),
      h('div', { class: 'side-body', 'data-t': 'side' })),
    h('main', { class: 'chat', 'data-t': 'chat' })));
  renderBanner();
  renderMeBar();
  renderTabs();
  renderSide();
  renderChat();
}

/** Who is logged in, and whether the connection is up. */
function renderMeBar() {
  const el = root.querySelector('[data-t=me-bar]');
  if (!el || !app.client) return;
  const me = app.client.uid;
  const online = app.client.state === State.CONNECTED;
  fill(el, avatar(nameOf(me)), h('span', { class: 'me-name' }, nameOf(me)),
    h('span', { class: online ? 'dot online' : 'dot', title: online ? 'online' : 'offline' }),
    h('span', { class: 'brand' }, 'fxim'));
}

function renderBanner() {
  const el = root.querySelector('[data-t=banner]');
  if (!el || !app.client) return;
  clearTimeout(countdownTimer);
  const state = app.client.state;
  if (state === State.CONNECTED || state === State.STOPPED) {
    el.className = 'banner hidden';
    fill(el);
    return;
  }
  el.className = 'banner';
  if (state === State.DISCONNECTED && app.client.nextRetryDelay !== null) {
    const seconds = Math.max(0, Math.ceil(app.client.nextRetryDelay));
    fill(el, t('offline', seconds), ' ',
      h('button', { type: 'button', 'data-t': 'retry', onclick: () => app.client.reconnectNow() }, t('retryNow')));
  } else {
    fill(el, app.everConnected ? t('reconnecting') : t('connecting'));
  }
}

function tabButton(name, label, badge) {
  return h('button', { type: 'button', class: app.tab === name ? 'tab active' : 'tab', 'data-t': `tab-${name}`,
    onclick: () => { app.tab = name; app.notice = ''; renderShell(); } },
  h('span', { class: 'tab-label' }, label, badge ? h('span', { class: 'badge' }, String(badge)) : null));
}

function renderTabs() {
  const el = root.querySelector('[data-t=tabs]');
  if (!el) return;
  const unread = Object.values(app.st.convs).reduce((n, c) => n + (c.unread || 0), 0);
  const incoming = incomingRequests().length;
  fill(el, tabButton('chats', t('chats'), unread), tabButton('contacts', t('contacts'), incoming),
    tabButton('groups', t('groups')), tabButton('me', t('me')));
}

function renderSide() {
  const el = root.querySelector('[data-t=side]');
  if (!el || !app.client) return;
  if (app.tab === 'chats') fill(el, chatList());
  else if (app.tab === 'contacts') fill(el, contactsView());
  else if (app.tab === 'groups') fill(el, groupsView());
  else fill(el, profileView());
}

function timeText(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  const now = new Date();
  const locale = language() === 'zh' ? 'zh-CN' : 'en-GB';
  if (d.toDateString() === now.toDateString()) {
    return d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  }
  return d.toLocaleDateString(locale, { month: 'short', day: 'numeric' });
}

function avatar(text, group) {
  const letter = (text || '?').trim().slice(0, 1).toUpperCase() || '?';
  let hash = 0;
  for (const ch of text || '') hash = (hash * 31 + ch.charCodeAt(0)) % 360;
  return h('span', { class: group ? 'avatar group' : 'avatar', style: { '--hue': String(hash) }, 'aria-hidden': 'true' }, letter);
}

function chatList() {
  const entries = Object.entries(app.st.convs).sort((a, b) => b[1].ts - a[1].ts);
  if (!entries.length) return h('p', { class: 'empty' }, t('noChats'));
  return h('ul', { class: 'list' }, entries.map(([key, c]) => {
    const title = titleOf(key);
    return h('li', { class: key === app.open ? 'item active' : 'item', 'data-t': 'conv', 'data-key': key,
      onclick: () => openConversation(key) },
    avatar(title, key.startsWith('1:')),
    h('div', { class: 'item-main' },
      h('div', { class: 'item-top' }, h('span', { class: 'item-title' }, title),
        h('span', { class: 'item-time' }, timeText(c.ts))),
      h('div', { class: 'item-bottom' }, h('span', { class: 'item-preview' }, c.preview || ''),
        c.unread ? h('span', { class: 'badge', 'data-t': 'unread' }, String(c.unread)) : null)));
  }));
}

// -- contacts -----------------------------------------------------------------

function incomingRequests() {
  const me = app.client && app.client.uid;
  return [...app.requests.values()].filter((r) => r.to === me && r.status === 0);
}

function contactsView() {
  const me = app.client.uid;
  const search = h('input', { 'data-t': 'search', type: 'search', placeholder: t('search') });
  const go = async (event) => {
    event.preventDefault();
    const keyword = search.value.trim();
    if (!keyword) return;
    try {
      app.searchResults = (await app.client.searchUsers(keyword, { fuzzy: true })).filter((u) => u.uid !== me);
      for (const u of app.searchResults) {
        app.st.names[u.uid] = u.displayName || u.name || u.mobile || u.email || u.uid;
      }
    } catch (e) {
      app.searchResults = [];
    }
    renderSide();
  };
  const results = app.searchResults === null ? null : h('ul', { class: 'list compact', 'data-t': 'results' },
    app.searchResults.length ? app.searchResults.map((u) => h('li', { class: 'item', 'data-t': 'result', 'data-uid': u.uid },
      avatar(nameOf(u.uid)),
      h('div', { class: 'item-main' }, h('span', { class: 'item-title' }, nameOf(u.uid)),
        h('span', { class: 'item-preview' }, u.mobile || u.email || u.uid)),
      app.friends.has(u.uid) ? null : h('button', {
        type: 'button', 'data-t': 'add', disabled: app.sentRequests.has(u.uid),
        onclick: async () => {
          try {
            await app.client.addFriend(u.uid, '');
            app.sentRequests.add(u.uid);
          } catch (e) {
            app.notice = t('failed', describeError(e));
          }
          renderSide();
        },
      }, app.sentRequests.has(u.uid) ? t('requestSent') : t('add'))))
      : h('li', { class: 'empty' }, t('noResults')));
  const requests = [...app.requests.values()].filter((r) => r.status === 0 || r.to === me)
    .sort((a, b) => b.updateDt - a.updateDt);
  const friends = [...app.friends.values()].filter((f) => f.state === 0);
  return h('div', { class: 'pane' },
    h('form', { class: 'row', onsubmit: go }, search, h('button', { type: 'submit', 'data-t': 'search-go' }, t('searchButton'))),
    app.notice ? h('p', { class: 'status' }, app.notice) : null,
    results,
    requests.length ? h('h2', {}, t('requests')) : null,
    requests.length ? h('ul', { class: 'list compact' }, requests.map((r) => {
      const incoming = r.to === me;
      const other = incoming ? r.from : r.to;
      let action;
      if (incoming && r.status === 0) {
        action = h('span', { class: 'actions' },
          h('button', { type: 'button', class: 'primary', 'data-t': 'accept', onclick: () => handleRequest(r, true) }, t('accept')),
          h('button', { type: 'button', 'data-t': 'reject', onclick: () => handleRequest(r, false) }, t('reject')));
      } else {
        action = h('span', { class: 'muted' }, r.status === 1 ? t('accepted') : r.status === 2 ? t('rejected') : t('pending'));
      }
      return h('li', { class: 'item', 'data-t': 'request', 'data-from': r.from },
        avatar(nameOf(other)),
        h('div', { class: 'item-main' }, h('span', { class: 'item-title' }, nameOf(other)),
          h('span', { class: 'item-preview' }, incoming ? (r.reason || t('wantsFriend')) : r.reason)),
        action);
    })) : null,
    h('h2', {}, t('friends')),
    friends.length ? h('ul', { class: 'list compact' }, friends.map((f) => h('li', {
      class: 'item', 'data-t': 'friend', 'data-uid': f.uid,
      onclick: () => { app.tab = 'chats'; openConversation(keyOf(conversation(f.uid))); },
    }, avatar(nameOf(f.uid)), h('div', { class: 'item-main' }, h('span', { class: 'item-title' }, f.alias || nameOf(f.uid)),
      h('span', { class: 'item-preview' }, f.uid)))))
      : h('p', { class: 'empty' }, t('noFriends')));
}

async function handleRequest(r, accept) {
  try {
    if (accept) await app.client.acceptFriend(r.from);
    else await app.client.rejectFriend(r.from);
    r.status = accept ? 1 : 2;
    app.notice = '';
  } catch (e) {
    app.notice = t('failed', describeError(e));
  }
  renderSide();
  renderTabs();
}

// -- groups -------------------------------------------------------------------

function groupsView() {
  const name = h('input', { 'data-t': 'group-name', type: 'text', placeholder: t('groupName') });
  const friends = [...app.friends.values()].filter((f) => f.state === 0);
  const picks = friends.map((f) => h('label', { class: 'pick' },
    h('input', { type: 'checkbox', 'data-t': 'member-pick', value: f.uid }), nameOf(f.uid)));
  const create = async (event) => {
    event.preventDefault();
    const chosen = picks.map((p) => p.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    const groupName = name.value.trim();
    if (!groupName) return name.focus();
    try {
      const gid = await app.client.createGroup(groupName, chosen);
      app.st.groupNames[gid] = groupName;
      app.tab = 'chats';
      openConversation(keyOf(conversation(gid, true)));
    } catch (e) {
      app.notice = t('failed', describeError(e));
      renderSide();
    }
  };
  const groups = Object.entries(app.st.groupNames);
  return h('div', { class: 'pane' },
    h('form', { class: 'card', onsubmit: create },
      h('h2', {}, t('newGroup')), name, h('div', { class: 'picks' }, picks),
      h('button', { type: 'submit', class: 'primary', 'data-t': 'create-group' }, t('create'))),
    app.notice ? h('p', { class: 'status' }, app.notice) : null,
    groups.length ? h('ul', { class: 'list compact' }, groups.map(([gid, gname]) => h('li', {
      class: 'item', 'data-t': 'group', 'data-gid': gid,
      onclick: () => { app.tab = 'chats'; openConversation(keyOf(conversation(gid, true))); },
    }, avatar(gname, true), h('div', { class: 'item-main' }, h('span', { class: 'item-title' }, gname || gid)))))
      : h('p', { class: 'empty' }, t('noGroups')));
}

async function membersPanel(gid) {
  const panel = h('div', { class: 'members', 'data-t': 'members-panel' }, h('p', { class: 'muted' }, '…'));
  const load = async () => {
    let members = [];
    let info = null;
    try {
      [members, [info]] = await Promise.all([app.client.groupMembers(gid), app.client.groupInfo([gid])]);
    } catch (e) { /* shown empty */ }
    ensureNames(members.map((m) => m.memberId));
    const rename = h('input', { 'data-t': 'rename-input', type: 'text', value: (info && info.name) || '' });
    fill(panel,
      h('h3', {}, t('members'), ` (${members.filter((m) => m.type !== 4).length})`),
      h('ul', { class: 'list compact' }, members.filter((m) => m.type !== 4).map((m) => h('li', { class: 'item', 'data-t': 'member', 'data-uid': m.memberId },
        avatar(nameOf(m.memberId)), h('span', { class: 'item-title' }, nameOf(m.memberId)),
        m.type === 2 ? h('span', { class: 'muted' }, t('owner')) : null))),
      h('form', { class: 'row', onsubmit: async (event) => {
        event.preventDefault();
        try {
          await app.client.modifyGroup(gid, { name: rename.value.trim() });
          app.st.groupNames[gid] = rename.value.trim();
          save();
          renderHeader();
          renderSide();
        } catch (e) {
          app.notice = t('failed', describeError(e));
        }
      } }, rename, h('button', { type: 'submit', 'data-t': 'rename' }, t('rename'))),
      h('button', { type: 'button', class: 'danger', 'data-t': 'quit', onclick: async () => {
        try {
          await app.client.quitGroup(gid);
          delete app.st.groupNames[gid];
          delete app.st.convs[keyOf(conversation(gid, true))];
          app.client.groups.delete(gid);
          app.open = null;
          save();
          renderShell();
        } catch (e) {
          app.notice = t('failed', describeError(e));
        }
      } }, t('quit')));
  };
  load();
  return panel;
}

// -- profile ------------------------------------------------------------------

function profileView() {
  const me = app.client.uid;
  const name = h('input', { 'data-t': 'display-name', type: 'text', value: app.st.names[me] || '' });
  const status = h('span', { class: 'muted', 'data-t': 'profile-status' });
  return h('div', { class: 'pane' },
    h('form', { class: 'card', onsubmit: async (event) => {
      event.preventDefault();
      try {
        await app.client.setMyInfo({ displayName: name.value.trim() });
        app.st.names[me] = name.value.trim() || me;
        save();
        renderMeBar();
        fill(status, t('saved'));
      } catch (e) {
        fill(status, t('failed', describeError(e)));
      }
    } },
    h('h2', {}, t('profile')),
    h('dl', {}, h('dt', {}, t('uid')), h('dd', { 'data-t': 'my-uid' }, me),
      h('dt', {}, t('account')), h('dd', {}, app.st.account || '')),
    h('label', {}, t('displayName'), name),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', 'data-t': 'save-profile' }, t('save')), status)),
    h('div', { class: 'card' }, h('label', {}, t('language'), languagePicker(() => renderShell()))),
    h('button', { type: 'button', class: 'danger', 'data-t': 'logout', onclick: async () => {
      const client = app.client;
      app.client = null;
      await client.stop({ logout: true }).catch(() => {});
      app.client = client; // endSession stops it again (harmless) and clears the state
      endSession('');
    } }, t('logout')));
}

// -- rendering: the chat pane -----------------------------------------------------

function renderChat() {
  const el = root.querySelector('[data-t=chat]');
  if (!el) return;
  if (!app.open) {
    fill(el, h('p', { class: 'empty center' }, t('pickChat')));
    return;
  }
  const input = h('textarea', { 'data-t': 'composer', rows: 1, placeholder: t('typeMessage'),
    oninput: typed,
    onkeydown: (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendText(input);
      }
    } });
  const imageInput = h('input', { type: 'file', accept: 'image/*', class: 'hidden', 'data-t': 'image-input',
    onchange: () => { sendUpload(imageInput.files[0], 'image'); imageInput.value = ''; } });
  const fileInput = h('input', { type: 'file', class: 'hidden', 'data-t': 'file-input',
    onchange: () => { sendUpload(fileInput.files[0], 'file'); fileInput.value = ''; } });
  app.atBottom = true;
  rowCache = new Map();
  const list = h('div', { class: 'messages', 'data-t': 'messages', onscroll: () => {
    app.atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    if (list.scrollTop < 40) loadOlder();
  } });
  fill(el,
    h('header', { class: 'chat-head', 'data-t': 'chat-head' }),
    h('div', { class: 'chat-body' }, list, app.membersOpen ? h('div', { 'data-t': 'members-slot', class: 'members-slot' }) : null),
    h('div', { class: 'typing', 'data-t': 'typing', 'aria-live': 'polite' }),
    h('div', { class: 'composer-status', 'data-t': 'progress' }),
    h('form', { class: 'composer', onsubmit: (event) => { event.preventDefault(); sendText(input); } },
      h('button', { type: 'button', class: 'icon', title: t('image'), 'aria-label': t('image'), 'data-t': 'attach-image',
        onclick: () => imageInput.click() }, t('image')),
      h('button', { type: 'button', class: 'icon', title: t('file'), 'aria-label': t('file'), 'data-t': 'attach-file',
        onclick: () => fileInput.click() }, t('file')),
      input, imageInput, fileInput,
      h('button', { type: 'submit', class: 'primary', 'data-t': 'send' }, t('send'))));
  renderHeader();
  renderMessages({ toBottom: true });
  renderTyping();
  renderComposerStatus();
  if (app.membersOpen) {
    membersPanel(convOf(app.open).target).then((panel) => {
      const slot = root.querySelector('[data-t=members-slot]');
      if (slot) fill(slot, panel);
    });
  }
}

function renderHeader() {
  const el = root.querySelector('[data-t=chat-head]');
  if (!el || !app.open) return;
  const group = app.open.startsWith('1:');
  fill(el,
    h('button', { type: 'button', class: 'back', 'data-t': 'back', 'aria-label': t('back'),
      onclick: () => { app.open = null; renderShell(); } }, '‹'),
    avatar(titleOf(app.open), group),
    h('span', { class: 'chat-title', 'data-t': 'chat-title' }, titleOf(app.open)),
    group ? h('button', { type: 'button', 'data-t': 'members', onclick: () => {
      app.membersOpen = !app.membersOpen;
      renderChat();
    } }, app.membersOpen ? t('close') : t('members')) : null);
}

function renderTyping() {
  const el = root.querySelector('[data-t=typing]');
  if (!el) return;
  const entry = app.open && app.typing.get(app.open);
  if (entry && entry.until > Date.now()) fill(el, t('typing', nameOf(entry.uid)));
  else fill(el);
}

function renderComposerStatus() {
  const el = root.querySelector('[data-t=progress]');
  if (!el) return;
  const u = app.upload;
  if (!u) fill(el);
  else if (u.error) fill(el, h('span', { class: 'error' }, u.error));
  else fill(el, t('uploading', u.name, u.percent), h('progress', { max: 100, value: u.percent }));
}

function fileSize(n) {
  const v = Number(n) || 0;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MB`;
  if (v >= 1024) return `${Math.round(v / 1024)} KB`;
  return `${v} B`;
}

function safeUrl(url) {
  // Only http(s) media links, never javascript: or data: from a peer.
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch (e) {
    return null;
  }
}

function messageBody(item) {
  const c = item.content;
  switch (c.type) {
    case ContentType.TEXT:
      return h('div', { class: 'text' }, c.searchableContent);
    case ContentType.IMAGE: {
      const url = safeUrl(c.remoteMediaUrl);
      if (!url) return h('div', { class: 'text' }, t('imageText'));
      return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'image' },
        h('img', { src: url, alt: c.content || t('imageText'), 'data-t': 'image',
          onload: () => renderMessages({ keepScroll: true, stickToBottom: true, noRebuild: true }) }));
    }
    case ContentType.FILE: {
      const url = safeUrl(c.remoteMediaUrl);
      return h('a', { class: 'file', href: url || '#', target: '_blank', rel: 'noopener noreferrer', download: c.searchableContent },
        h('span', { class: 'file-icon', 'aria-hidden': 'true' }, 'FILE'), c.searchableContent, h('span', { class: 'muted' }, ` ${fileSize(c.content)}`));
    }
    case ContentType.RECALL:
      return h('div', { class: 'text recalled', 'data-t': 'recalled' },
        item.from === app.client.uid ? t('youRecalled') : t('recalled'));
    default:
      return h('div', { class: 'text' }, t('unsupported', c.type));
  }
}

function messageRow(item) {
  const me = app.client.uid;
  if (item.content.type === ContentType.TIP) {
    return h('div', { class: 'notice', 'data-t': 'notice', 'data-uid': item.uid }, tipText(item.content));
  }
  const ev = item.conversation && item.conversation.type === 1 ? groupEvent(item) : null;
  if (ev || (item.content.type >= 104 && item.content.type <= 117)) {
    return h('div', { class: 'notice', 'data-t': 'notice', 'data-uid': item.uid }, ev ? groupNotice(ev) : t('groupNotice'));
  }
  const mark = markOf(item);
  const mine = item.from === me;
  const group = app.open && app.open.startsWith('1:');
  const canRecall = mine && item.uid && item.content.type !== ContentType.RECALL && !item.pending;
  return h('div', { class: mine ? 'msg mine' : 'msg', 'data-t': 'msg', 'data-uid': item.uid || '',
    'data-local': item.localId || '' },
  !mine && group ? h('div', { class: 'sender' }, nameOf(item.from)) : null,
  h('div', { class: 'bubble' }, messageBody(item)),
  h('div', { class: 'meta' },
    h('span', {}, timeText(item.timestamp)),
    item.pending ? h('span', { class: 'pending', 'data-t': 'pending' }, ` · ${t('sending')}`) : null,
    item.failed ? h('span', { class: 'error' }, ` · ${t('sendFailed')}: ${item.failed}`) : null,
    mark ? h('span', { class: `receipt ${mark}`, 'data-t': mark, title: t(mark) }, mark === 'read' ? ' ✓✓' : ' ✓') : null,
    canRecall ? h('button', { type: 'button', class: 'link', 'data-t': 'recall', onclick: () => recall(item) }, t('recall')) : null));
}

/** Rendered rows, reused while what they show is unchanged (so images don't reload). */
let rowCache = new Map();

function rowKey(item) {
  return [item.uid || `l${item.localId}`, item.content.type, item.pending, item.failed || '',
    nameOf(item.from), timeText(item.timestamp), language(), markOf(item)].join('|');
}

function renderMessages({ toBottom = false, keepScroll = false, stickToBottom = false, fromBottom = false, noRebuild = false } = {}) {
  const list = root.querySelector('[data-t=messages]');
  if (!list) return;
  const nearBottom = app.atBottom !== false || list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const distanceFromBottom = list.scrollHeight - list.scrollTop;
  if (!noRebuild) {
    const cache = new Map();
    const rows = app.items.map((item) => {
      const key = rowKey(item);
      const el = rowCache.get(key) || messageRow(item);
      cache.set(key, el);
      return el;
    });
    rowCache = cache;
    fill(list,
      app.loadingOlder ? h('div', { class: 'older muted' }, t('loadOlder'))
        : app.noOlder && app.items.length ? h('div', { class: 'older muted' }, t('noOlder')) : null,
      rows,
      app.open.startsWith('0:') && app.streams.has(app.open.slice(2)) ? streamRow(app.streams.get(app.open.slice(2))) : null);
  }
  if (toBottom || (stickToBottom && nearBottom)) list.scrollTop = list.scrollHeight;
  else if (fromBottom) list.scrollTop = list.scrollHeight - distanceFromBottom;
  else if (keepScroll && nearBottom) list.scrollTop = list.scrollHeight;
}

boot();
