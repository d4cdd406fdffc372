// Delivery/read reports (MDR, MRR, MRN -> MRP) and streaming agent replies
// (SAI frames), against the fake server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { webcrypto } from 'node:crypto';

import { Backoff, ChatClient, conversation } from '../src/index.js';
import { AgentStreams } from '../src/agents.js';
import { FakeClock, FakeServer, connectAck, flush, reply, until } from './fakes.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures-password.json', import.meta.url)));

async function connected() {
  const server = new FakeServer();
  const clock = new FakeClock(fixture.nowMs);
  const client = new ChatClient({
    wsUrl: 'ws://fxim.test/ws', WebSocket: server.WebSocket, crypto: webcrypto, clock,
    credentials: { uid: 'alice', token: fixture.token, clientId: 'dev-1' },
    backoff: new Backoff({ random: () => 0.5 }),
  });
  const started = client.start();
  await until(() => server.last && server.last.envelopes().length, 'CONNECT');
  const sock = server.last;
  sock.deliver(connectAck());
  await started;
  await flush();
  return { server, clock, client, sock };
}

const sentOf = (sock, sub) => sock.envelopes().filter((e) => e.subSignal === sub);
const push = (sub, value) => ({ content: JSON.stringify(value), messageId: 0, signal: 'PUBLISH', subSignal: sub });
const report = (uid, type, date, target = uid) => ({ uid, target, reportType: type, date });

test('reportDelivered and reportRead send MDR and MRR and wait for the WsResult', async () => {
  const { client, sock } = await connected();
  const delivered = client.reportDelivered('bob', 1700);
  const read = client.reportRead(conversation('g1', true), 1800, ['bob', 'carol']);
  await flush();
  const [mdr] = sentOf(sock, 'MDR');
  const [mrr] = sentOf(sock, 'MRR');
  assert.deepEqual(mdr.content, { date: 1700, target: 'bob' });
  assert.deepEqual(mrr.content, { target: 'g1', date: 1800, type: 1, line: 0, tos: ['bob', 'carol'] });
  sock.deliver(reply(mdr, { code: 200, message: 'success' }));
  sock.deliver(reply(mrr, { code: 400, message: 'failure' }));
  assert.equal(await delivered, undefined);
  await assert.rejects(read, { name: 'RequestFailed' });
  await client.stop();
});

test('MRN pulls reports after reportSeq; capped results continue; nothing repeats or is skipped', async () => {
  const { server, clock, client, sock } = await connected();
  const got = [];
  const cursors = [];
  client.on('receipt', (r) => got.push(`${r.kind}:${r.uid}:${r.date}`));
  client.on('reportCursor', (c) => cursors.push(c));
  // The pull at connect: nothing yet.
  const [first] = sentOf(sock, 'MRP');
  assert.deepEqual(first.content, { id: '1', type: 0 });
  sock.deliver(reply(first, { current: '0', head: '0', messageCount: 0, messageReportList: [] }));
  await flush();
  sock.deliver(push('MRN', { messageHead: '3', type: 1 }));
  await flush();
  const second = sentOf(sock, 'MRP')[1];
  assert.equal(second.content.id, '1');
  // Capped: 2 of 3; the client asks for the rest at once.
  sock.deliver(reply(second, { current: '2', head: '3', messageCount: 2,
    messageReportList: [report('bob', 1, 100), report('carol', 1, 90)] }));
  await flush();
  const third = sentOf(sock, 'MRP')[2];
  assert.equal(third.content.id, '3');
  // The server's per-device cursor may resend bob's report: announced once.
  sock.deliver(reply(third, { current: '3', head: '3', messageCount: 2,
    messageReportList: [report('bob', 1, 100), report('bob', 2, 100), { reportType: 9, uid: 'x' }] }));
  await flush();
  assert.deepEqual(got, ['delivered:bob:100', 'delivered:carol:90', 'read:bob:100']);
  assert.deepEqual(cursors, [2, 3]);
  // An MRN during a pull: pulled once more after it, from the new seq.
  sock.deliver(push('MRN', { messageHead: '4', type: 2 }));
  sock.deliver(push('MRN', { messageHead: '5', type: 2 }));
  await flush();
  const fourth = sentOf(sock, 'MRP')[3];
  assert.equal(fourth.content.id, '4');
  assert.equal(sentOf(sock, 'MRP').length, 4);
  // The connection drops before the answer: after the reconnect the pull
  // starts from the same seq (the connect pull), so the report is not lost.
  sock.close();
  await flush();
  await clock.advance(client.nextRetryDelay * 1000);
  await until(() => server.last !== sock && server.last.envelopes().length, 'reconnect');
  const sock2 = server.last;
  sock2.deliver(connectAck());
  await until(() => sentOf(sock2, 'MRP').length, 'the connect MRP');
  const again = sentOf(sock2, 'MRP')[0];
  assert.equal(again.content.id, '4');
  sock2.deliver(reply(again, { current: '5', head: '5', messageCount: 2,
    messageReportList: [report('carol', 2, 95), report('bob', 2, 130)] }));
  await flush();
  assert.deepEqual(got.slice(3), ['read:carol:95', 'read:bob:130']);
  assert.equal(client.reportSeq, 5);
  await client.stop();
});

test('SAI frames are assembled into a growing reply per stream', async () => {
  const { client, sock } = await connected();
  const seen = [];
  client.on('agentStream', (s) => seen.push([s.id, s.agent, s.text, s.final]));
  sock.deliver(push('SAI', { i: 's1', d: '', f: false, t: 'AI1' }));
  sock.deliver(push('SAI', { i: 's1', d: '你好，', f: false, t: 'AI1' }));
  sock.deliver(push('SAI', { i: 's2', d: 'other', f: false, t: 'AI2' }));
  sock.deliver(push('SAI', { i: 's1', d: '我是', f: false, t: 'AI1' }));
  sock.deliver(push('SAI', { i: 's1', d: '', f: true, t: 'AI1' }));
  sock.deliver(push('SAI', { d: 'no id' }));
  await flush();
  assert.deepEqual(seen, [
    ['s1', 'AI1', '', false], ['s1', 'AI1', '你好，', false], ['s2', 'AI2', 'other', false],
    ['s1', 'AI1', '你好，我是', false], ['s1', 'AI1', '你好，我是', true]]);
  await client.stop();
});

test('AgentStreams forgets a stream once it is final', () => {
  const out = [];
  const streams = new AgentStreams((s) => out.push(s.text));
  streams.frame({ i: 'a', d: 'x', f: false, t: 'AI' });
  streams.frame({ i: 'a', d: 'y', f: true, t: 'AI' });
  assert.equal(streams.open.size, 0);
  streams.frame({ i: 'a', d: 'z', f: false, t: 'AI' }); // a new stream under the same id
  streams.frame(null);
  streams.frame('junk');
  assert.deepEqual(out, ['x', 'xy', 'z']);
});
