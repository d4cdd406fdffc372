// Against a real fxim node: run by fxim/test/test_webchat_sdk.py, which
// starts `twistd fxim --login-code 556677` and sets FXIM_TEST_HTTP_URL and
// FXIM_TEST_WS_URL.  Skipped without them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { webcrypto } from 'node:crypto';
import WebSocket from 'ws';

import { ChatClient, ContentType, State, conversation } from '../src/index.js';

const HTTP = process.env.FXIM_TEST_HTTP_URL;
const WS = process.env.FXIM_TEST_WS_URL;
const CODE = process.env.FXIM_TEST_LOGIN_CODE || '556677';
const skip = HTTP && WS ? false : 'FXIM_TEST_HTTP_URL / FXIM_TEST_WS_URL not set (fxim/test/test_webchat_sdk.py sets them)';

function client() {
  return new ChatClient({ httpUrl: HTTP, wsUrl: WS, WebSocket, crypto: webcrypto, requestTimeout: 20 });
}

function randomMobile() {
  return '139' + String(Math.floor(Math.random() * 1e8)).padStart(8, '0');
}

/** Resolve with the first event of `kind` that `match` accepts. */
function next(c, kind, match = () => true, ms = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${kind} event`)); }, ms);
    const off = c.on(kind, (v) => {
      if (match(v)) { clearTimeout(timer); off(); resolve(v); }
    });
  });
}

test('two SDK clients against a real node', { skip, timeout: 120000 }, async (t) => {
  const alice = client();
  const bob = client();
  // Stopped even when an assertion fails, so the process can exit.
  t.after(() => Promise.all([alice.stop(), bob.stop()]));
  await alice.login(randomMobile(), CODE);
  await bob.login(randomMobile(), CODE);
  await alice.start();
  await bob.start();
  assert.equal(alice.state, State.CONNECTED);

  // Friends: a request, an accept, both sides see the friend.
  const request = next(bob, 'friendRequest', (r) => r.from === alice.uid);
  await alice.addFriend(bob.uid, 'hello from the SDK');
  assert.equal((await request).reason, 'hello from the SDK');
  const befriended = next(alice, 'friend', (f) => f.uid === bob.uid);
  await bob.acceptFriend(alice.uid);
  await befriended;
  assert.ok((await alice.friends()).some((f) => f.uid === bob.uid));

  // Messages both ways, in order, each once.
  const gotByBob = [];
  // The accepted request's reason also arrives as a text from Alice (the
  // greeting), whenever Bob's pull gets it: not one of the messages counted here.
  bob.on('message', (m) => {
    if (m.content.type === ContentType.TEXT && m.from === alice.uid
        && m.content.searchableContent !== 'hello from the SDK') gotByBob.push(m);
  });
  const results = [];
  for (let i = 0; i < 5; i++) results.push(alice.sendText(bob.uid, `a${i}`));
  const sent = await Promise.all(results);
  const toAlice = next(alice, 'message', (m) => m.content.searchableContent === 'b0');
  await bob.sendText(alice.uid, 'b0');
  await toAlice;
  await bob.sync();
  for (let i = 0; i < 50 && gotByBob.length < 5; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(gotByBob.map((m) => m.content.searchableContent), ['a0', 'a1', 'a2', 'a3', 'a4']);
  assert.deepEqual(gotByBob.map((m) => m.uid), sent.map((r) => r.uid));

  // Offline: bob stops; alice sends; bob comes back and pulls them in order.
  await bob.stop();
  for (let i = 0; i < 3; i++) await alice.sendText(bob.uid, `offline${i}`);
  gotByBob.length = 0;
  await bob.start();
  await bob.sync();
  for (let i = 0; i < 50 && gotByBob.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(gotByBob.map((m) => m.content.searchableContent), ['offline0', 'offline1', 'offline2']);

  // A drop with messages in flight: the outbox resends, nothing twice.
  gotByBob.length = 0;
  const pending = [alice.sendText(bob.uid, 'x0'), alice.sendText(bob.uid, 'x1')];
  alice.dropConnection();
  const flushed = await Promise.all(pending);
  assert.equal(new Set(flushed.map((r) => r.uid)).size, 2);
  for (let i = 0; i < 80 && gotByBob.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(gotByBob.map((m) => m.content.searchableContent), ['x0', 'x1']);

  // Typing is transparent: pushed, not stored.
  const typing = next(bob, 'transparent', (m) => m.content.type === ContentType.TYPING);
  await alice.sendTyping(bob.uid);
  assert.equal((await typing).from, alice.uid);

  // Recall.
  const recalled = next(bob, 'recall', (r) => r.uid === sent[0].uid);
  await alice.recall(sent[0].uid);
  assert.equal((await recalled).fromUser, alice.uid);

  // History, newest first, paged by uid.
  const page = await bob.history(conversation(alice.uid), '0', 3);
  assert.equal(page.length, 3);
  assert.ok(BigInt(page[0].uid) > BigInt(page[2].uid));
  const older = await bob.history(conversation(alice.uid), page[2].uid, 3);
  assert.ok(BigInt(older[0].uid) < BigInt(page[2].uid));

  // Media: GMURL, PUT, and the URL serves the bytes back.
  const bytes = new TextEncoder().encode('not really a png');
  let progress = 0;
  const url = await alice.upload(bytes, { filename: 'x.png', mediaType: 1, onProgress: (n) => { progress = n; } });
  assert.equal(progress, bytes.length);
  assert.equal(await (await fetch(url)).text(), 'not really a png');

  // A group of two: create, a message, members, rename, quit.
  const gid = await alice.createGroup('sdk team', [bob.uid]);
  const groupMessage = next(bob, 'message', (m) => m.conversation.type === 1 && m.content.searchableContent === 'hi team');
  await alice.sendText(gid, 'hi team', { group: true });
  await groupMessage;
  assert.ok(bob.groups.has(gid));
  const members = await bob.groupMembers(gid);
  assert.deepEqual(members.map((m) => m.memberId).sort(), [alice.uid, bob.uid].sort());
  await alice.modifyGroup(gid, { name: 'renamed' });
  assert.equal((await bob.groupInfo([gid]))[0].name, 'renamed');
  await bob.quitGroup(gid);
  assert.equal((await alice.groupInfo([gid]))[0].memberCount, 1);

  // Profile.
  await alice.setMyInfo({ displayName: 'Alice SDK' });
  assert.equal((await bob.users([alice.uid]))[0].displayName, 'Alice SDK');

  await alice.stop();
  await bob.stop();
});

test('delivery and read reports against a real node', { skip, timeout: 120000 }, async (t) => {
  const alice = client();
  const bob = client();
  t.after(() => Promise.all([alice.stop(), bob.stop()]));
  await alice.login(randomMobile(), CODE);
  await bob.login(randomMobile(), CODE);
  await alice.start();
  await bob.start();
  const befriended = next(alice, 'friend', (f) => f.uid === bob.uid);
  await alice.addFriend(bob.uid);
  await bob.acceptFriend(alice.uid);
  await befriended;
  const received = next(bob, 'message', (m) => m.content.searchableContent === 'tick me');
  const { timestamp } = await alice.sendText(bob.uid, 'tick me');
  const m = await received;
  assert.equal(m.timestamp, timestamp);
  const delivered = next(alice, 'receipt', (r) => r.kind === 'delivered');
  await bob.reportDelivered(alice.uid, m.timestamp);
  assert.deepEqual(await delivered, { kind: 'delivered', uid: bob.uid, target: bob.uid, date: timestamp });
  const read = next(alice, 'receipt', (r) => r.kind === 'read');
  await bob.reportRead(conversation(alice.uid), m.timestamp);
  assert.deepEqual(await read, { kind: 'read', uid: bob.uid, target: bob.uid, date: timestamp });
  // A device that was away gets them at connect (MRP without an MRN), once each.
  await alice.stop();
  const late = client();
  t.after(() => late.stop());
  late.credentials = alice.credentials;
  const seen = [];
  late.on('receipt', (r) => seen.push(`${r.kind}:${r.date}`));
  await late.start();
  await late.syncReports();
  for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(seen.sort(), [`delivered:${timestamp}`, `read:${timestamp}`]);
});
