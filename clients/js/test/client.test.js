import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { webcrypto } from 'node:crypto';

import { Backoff, ChatClient, HEARTBEAT, RequestFailed, State } from '../src/index.js';
import { FakeClock, FakeServer, connectAck, flush, reply, until } from './fakes.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures-password.json', import.meta.url)));

function makeClient(server, clock, extra = {}) {
  return new ChatClient({
    wsUrl: 'ws://fxim.test/ws', WebSocket: server.WebSocket, crypto: webcrypto, clock,
    credentials: { uid: 'alice', token: fixture.token, clientId: 'dev-1' },
    backoff: new Backoff({ random: () => 0.5 }), ...extra,
  });
}

function msg(uid, text, from = 'bob') {
  return { content: { type: 1, searchableContent: text }, conversationType: 0, target: 'alice',
    line: 0, from, messageId: uid, timestamp: uid * 10, direction: 0, status: 0, messageUid: 0 };
}

/** The pending request envelopes of a subsignal on a socket, oldest first. */
function sentOf(socket, subSignal) {
  return socket.envelopes().filter((e) => e.subSignal === subSignal);
}

async function connected(server, clock, extra) {
  const client = makeClient(server, clock, extra);
  const started = client.start();
  await until(() => server.last && server.last.envelopes().length, 'CONNECT');
  const sock = server.last;
  const connect = sock.envelopes()[0];
  assert.equal(connect.signal, 'CONNECT');
  sock.deliver(connectAck());
  await started;
  await flush();
  return { client, sock };
}

test('CONNECT carries the uid, the token password and the device id', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const { client, sock } = await connected(server, clock);
  const connect = sock.envelopes()[0];
  assert.deepEqual(connect.content, { userName: 'alice', password: fixture.password, clientIdentifier: 'dev-1' });
  assert.equal(client.state, State.CONNECTED);
  // It pulls from seq 0 at once, and asks for friend requests.
  assert.deepEqual(sentOf(sock, 'MP')[0].content, { messageId: '0', type: 0, pullType: 0, sendMessageCount: 0 });
  assert.equal(sentOf(sock, 'FRP').length, 1);
});

test('a pull continues to the head and a drop never skips nor repeats', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const { client, sock } = await connected(server, clock);
  const got = [];
  const cursors = [];
  client.on('message', (m) => got.push(m.content.searchableContent));
  client.on('cursor', (c) => cursors.push(c));
  sock.deliver(reply(sentOf(sock, 'MP')[0], { current: '2', head: '4', messageCount: 2,
    messageResponseList: [msg(101, 'one'), msg(102, 'two')] }));
  await flush();
  const second = sentOf(sock, 'MP')[1];
  assert.equal(second.content.messageId, '2');
  // The connection dies before the second batch is answered.
  sock.close();
  await flush();
  assert.equal(client.state, State.DISCONNECTED);
  await clock.advance(client.nextRetryDelay * 1000);
  await until(() => server.last !== sock && server.last.envelopes().length, 'reconnect');
  const sock2 = server.last;
  sock2.deliver(connectAck('4'));
  await flush();
  const again = sentOf(sock2, 'MP')[0];
  assert.equal(again.content.messageId, '2');
  // The server resends 102 too (e.g. a replay): delivered once only.
  sock2.deliver(reply(again, { current: '4', head: '4', messageCount: 3,
    messageResponseList: [msg(102, 'two'), msg(103, 'three'), msg(104, 'four')] }));
  await flush();
  assert.deepEqual(got, ['one', 'two', 'three', 'four']);
  assert.deepEqual(cursors, [2, 4]);
  assert.equal(client.lastSeq, 4);
  // An MN for a head already seen pulls nothing; a newer one pulls.
  sock2.deliver({ content: JSON.stringify({ messageHead: '4', type: 0 }), messageId: 0, signal: 'PUBLISH', subSignal: 'MN' });
  await flush();
  assert.equal(sentOf(sock2, 'MP').length, 1);
  sock2.deliver({ content: JSON.stringify({ messageHead: '5', type: 0 }), messageId: 0, signal: 'PUBLISH', subSignal: 'MN' });
  await flush();
  assert.equal(sentOf(sock2, 'MP')[1].content.messageId, '4');
  await client.stop();
});

test('the outbox resends with the same local ids after a reconnect', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const { client, sock } = await connected(server, clock);
  const first = client.sendText('bob', 'hello');
  const second = client.sendText('bob', 'again');
  await flush();
  const sent = sentOf(sock, 'MS');
  assert.equal(sent.length, 2);
  const ids = sent.map((e) => e.content.messageId);
  assert.ok(ids[0] >= fixture.nowMs && ids[1] > ids[0]);
  sock.deliver(reply(sent[0], { messageId: '9001', timestamp: 5 }));
  assert.deepEqual(await first, { uid: '9001', timestamp: 5, localId: ids[0] });
  sock.close();
  await flush();
  // Sent while disconnected: queued.
  const third = client.sendText('bob', 'offline');
  await clock.advance(client.nextRetryDelay * 1000);
  await until(() => server.last !== sock && server.last.envelopes().length, 'reconnect');
  const sock2 = server.last;
  sock2.deliver(connectAck());
  await flush();
  const resent = sentOf(sock2, 'MS');
  assert.deepEqual(resent.map((e) => e.content.messageId), [ids[1], ids[1] + 1]);
  assert.deepEqual(resent.map((e) => e.content.content.searchableContent), ['again', 'offline']);
  sock2.deliver(reply(resent[0], { messageId: '9002', timestamp: 6 }));
  sock2.deliver(reply(resent[1], { messageId: '9003', timestamp: 7 }));
  assert.equal((await second).uid, '9002');
  assert.equal((await third).uid, '9003');
  assert.equal(client.resent, 1);
  assert.deepEqual(client.unacked(), []);
  await client.stop();
});

test('a refused message fails its promise and leaves the outbox', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const { client, sock } = await connected(server, clock);
  const p = client.sendText('g1', 'hi', { group: true });
  await flush();
  sock.deliver(reply(sentOf(sock, 'MS')[0], ''));
  await assert.rejects(p, RequestFailed);
  assert.deepEqual(client.unacked(), []);
  await client.stop();
});

test('reconnect delays follow the backoff and reset after a success', async () => {
  const server = new FakeServer();
  server.refuseOpen = true;
  const clock = new FakeClock(fixture.nowMs);
  const client = makeClient(server, clock);
  client.start().catch(() => {});
  await flush();
  const delays = [];
  for (let i = 0; i < 4; i++) {
    delays.push(client.nextRetryDelay);
    await clock.advance(client.nextRetryDelay * 1000);
  }
  assert.deepEqual(delays, [0.5, 1, 2, 4]);
  server.refuseOpen = false;
  await clock.advance(client.nextRetryDelay * 1000);
  await until(() => server.last.envelopes().length, 'CONNECT');
  server.last.deliver(connectAck());
  await flush();
  assert.equal(client.state, State.CONNECTED);
  assert.equal(client.attempt, 0);
  await client.stop();
});

test('a final CONNECT_ACK code stops the client: unauthorized', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const client = makeClient(server, clock);
  const started = client.start();
  await until(() => server.last && server.last.envelopes().length, 'CONNECT');
  server.last.deliver({ content: '', messageId: 0, signal: 'CONNECT_ACK',
    subSignal: 'CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD' });
  await assert.rejects(started, (e) => e.name === 'Unauthorized' && e.code === 5);
  assert.equal(client.state, State.UNAUTHORIZED);
  await clock.advance(120000);
  assert.equal(server.sockets.length, 1);
});

test('heartbeat frames every 25 s; pushes become events', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const { client, sock } = await connected(server, clock);
  sock.deliver(reply(sentOf(sock, 'MP')[0], { current: '0', head: '0', messageCount: 0, messageResponseList: [] }));
  sock.deliver(reply(sentOf(sock, 'FRP')[0], []));
  await clock.advance(60000);
  assert.equal(client.state, State.CONNECTED);
  assert.equal(sock.sent.filter((t) => t === HEARTBEAT).length, 2);
  const typing = [];
  const recalls = [];
  const other = [];
  client.on('transparent', (m) => typing.push(m));
  client.on('recall', (r) => recalls.push(r));
  client.on('push', (p) => other.push(p));
  const t = msg(0, '');
  t.content = { type: 91 };
  sock.deliver({ content: JSON.stringify({ current: '0', head: '0', messageCount: 1, messageResponseList: [t] }),
    messageId: 0, signal: 'PUB_ACK', subSignal: 'MP' });
  sock.deliver({ content: JSON.stringify({ fromUser: 'bob', messageUid: '77' }), messageId: 0, signal: 'PUBLISH', subSignal: 'RMN' });
  sock.deliver({ content: JSON.stringify({ x: 1 }), messageId: 0, signal: 'PUBLISH', subSignal: 'MYPLUGIN' });
  assert.equal(typing.length, 1);
  assert.equal(typing[0].content.type, 91);
  assert.deepEqual(recalls, [{ uid: '77', fromUser: 'bob' }]);
  assert.deepEqual(other, [{ subSignal: 'MYPLUGIN', value: { x: 1 } }]);
  await client.stop();
});

test('typed calls: code-only success and failure, list results', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const { client, sock } = await connected(server, clock);
  const add = client.addFriend('bob', 'hi');
  await flush();
  const far = sentOf(sock, 'FAR')[0];
  assert.deepEqual(far.content, { reason: 'hi', targetUserId: 'bob' });
  sock.deliver(reply(far, { code: 200, message: 'success' }));
  await add;
  const quit = client.quitGroup('g1');
  await flush();
  sock.deliver(reply(sentOf(sock, 'GQ')[0], { code: 400, message: 'error' }));
  await assert.rejects(quit, RequestFailed);
  const found = client.searchUsers('13800000001');
  await flush();
  sock.deliver(reply(sentOf(sock, 'US')[0], [{ uid: 'bob', displayName: 'Bob', mobile: '13800000001' }]));
  assert.equal((await found)[0].displayName, 'Bob');
  const page = client.history({ type: 0, target: 'bob' }, '0', 5);
  await flush();
  const lrm = sentOf(sock, 'LRM')[0];
  assert.deepEqual(lrm.content, { beforeUid: '0', count: 5, conversation: { conversationType: 0, target: 'bob', line: 0 } });
  sock.deliver(reply(lrm, { count: 1, messageResponseList: [msg(5, 'old')] }));
  assert.equal((await page)[0].uid, '5');
  await client.stop();
});

test('a token that does not decode is final too', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const client = makeClient(server, clock, { credentials: { uid: 'alice', token: 'AAAA', clientId: 'd' } });
  await assert.rejects(client.start(), (e) => e.name === 'Unauthorized' && e.code === 0);
  assert.equal(client.state, State.UNAUTHORIZED);
  await clock.advance(120000);
  assert.equal(server.sockets.length, 1);
});

test('an FRN during a friend-request pull pulls again afterwards', async () => {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const { client, sock } = await connected(server, clock);
  const got = [];
  client.on('friendRequest', (r) => got.push(r.from));
  // The connect-time pull is in flight when the FRN arrives.
  sock.deliver({ content: JSON.stringify({ version: '5' }), messageId: 0, signal: 'PUBLISH', subSignal: 'FRN' });
  await flush();
  assert.equal(sentOf(sock, 'FRP').length, 1);
  sock.deliver(reply(sentOf(sock, 'FRP')[0], [{ from: 'bob', target: 'alice', reason: '', status: 0, timestamp: 3 }]));
  await flush();
  const second = sentOf(sock, 'FRP');
  assert.equal(second.length, 2);
  assert.deepEqual(second[1].content, { version: '1003' });
  sock.deliver(reply(second[1], [{ from: 'carol', target: 'alice', reason: '', status: 0, timestamp: 5 }]));
  await flush();
  assert.deepEqual(got, ['bob', 'carol']);
  await client.stop();
});
