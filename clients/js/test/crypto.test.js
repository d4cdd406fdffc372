import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { webcrypto } from 'node:crypto';

import { hourOf, makePassword, splitToken } from '../src/crypto.js';
import { b64encode } from '../src/protocol.js';

// Made by fxim.crypto.makeToken / makePassword (the server's own code).
const fixture = JSON.parse(readFileSync(new URL('./fixtures-password.json', import.meta.url)));

test('hourOf matches the server', () => {
  assert.equal(hourOf(fixture.nowMs), fixture.hour);
});

test('splitToken reads what the server put in the token', async () => {
  const parts = await splitToken(fixture.token, webcrypto);
  assert.equal(b64encode(parts.usertoken), fixture.usertoken);
  assert.equal(parts.secret, fixture.secret);
  assert.equal(parts.dbSecret, fixture.dbSecret);
});

test('makePassword gives byte for byte what fxim.crypto.makePassword gives', async () => {
  assert.equal(await makePassword(fixture.token, fixture.nowMs, webcrypto), fixture.password);
});

test('a malformed token is refused', async () => {
  await assert.rejects(makePassword('AAAA', fixture.nowMs, webcrypto));
  await assert.rejects(makePassword('not base64!', fixture.nowMs, webcrypto));
});
