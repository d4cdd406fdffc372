// Reconnect delays: exponential growth with random jitter, so that many
// clients dropped at once (a node restart) spread their reconnects.

/**
 * Attempt n (from 0) waits a random time in [base*(1-jitter), base] seconds,
 * base = min(maximum, initial * factor^n).  jitter 1 is "full jitter".
 */
export class Backoff {
  /**
   * @param {{initial?: number, maximum?: number, factor?: number, jitter?: number, random?: () => number}} [options]
   */
  constructor({ initial = 1, maximum = 60, factor = 2, jitter = 1, random = Math.random } = {}) {
    if (!(jitter >= 0 && jitter <= 1)) throw new RangeError('jitter must be within [0, 1]');
    Object.assign(this, { initial, maximum, factor, jitter, random });
  }

  /** The upper bound of the delay before attempt n, in seconds. */
  base(attempt) {
    return Math.min(this.maximum, this.initial * this.factor ** Math.min(attempt, 64));
  }

  /** A random delay before attempt n, in seconds. */
  delay(attempt) {
    return this.base(attempt) * (1 - this.jitter * this.random());
  }
}
