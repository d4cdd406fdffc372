import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff } from '../src/backoff.js';

test('delays grow exponentially up to the maximum, with full jitter', () => {
  const b = new Backoff({ initial: 1, maximum: 60, factor: 2, jitter: 1, random: () => 0 });
  assert.deepEqual([0, 1, 2, 3, 10].map((n) => b.base(n)), [1, 2, 4, 8, 60]);
  assert.equal(b.delay(3), 8);
  const low = new Backoff({ random: () => 0.999999 });
  assert.ok(low.delay(3) < 0.001);
});

test('delays spread over [base*(1-jitter), base]', () => {
  const b = new Backoff({ jitter: 0.5 });
  for (let i = 0; i < 200; i++) {
    const d = b.delay(2);
    assert.ok(d >= 2 && d <= 4, String(d));
  }
});

test('jitter outside [0, 1] is refused', () => {
  assert.throws(() => new Backoff({ jitter: 2 }), RangeError);
});
