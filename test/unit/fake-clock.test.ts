import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './fake-clock.js';
import { sleep } from '../../src/clock.js';

// The other unit tests lean on the fake clock; check it keeps time as they assume.
describe('FakeClock', () => {
  it('runs timers only once they are due, in due order, with now() at their due time', async () => {
    const clock = new FakeClock(1000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 200);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 100);
    clock.setTimeout(() => fired.push(['c', clock.now()]), 200);
    await clock.advance(99);
    assert.deepEqual(fired, []);
    await clock.advance(101);
    assert.deepEqual(fired, [['a', 1100], ['b', 1200], ['c', 1200]]);
    assert.equal(clock.now(), 1200);
    assert.equal(clock.pending, 0);
  });

  it('runs a timer set by a timer when it falls due within the same advance', async () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 50);
    }, 50);
    await clock.advance(100);
    assert.deepEqual(fired, [50, 100]);
  });

  it('does not run a cleared timer', async () => {
    const clock = new FakeClock();
    let ran = false;
    const h = clock.setTimeout(() => (ran = true), 10);
    clock.clearTimeout(h);
    await clock.advance(100);
    assert.equal(ran, false);
  });

  it('resolves sleep() at the right time', async () => {
    const clock = new FakeClock();
    let done = false;
    void sleep(clock, 30).then(() => (done = true));
    await clock.advance(29);
    assert.equal(done, false);
    await clock.advance(1);
    assert.equal(done, true);
  });
});
