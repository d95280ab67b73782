import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_PROGRESS_INTERVAL_MS, StatusPacer } from '../../controllers/status/status-pacer.js';
import { FakeClock } from './fake-clock.js';

const st = (phase: 'Pending' | 'Running', running: number, desired = 100, updated = running) => ({ phase, running, desired, updated });

describe('StatusPacer', () => {
  it('writes progress at most once a second per manifest, and what a user waits on at once', async () => {
    const clock = new FakeClock(1_000_000);
    const pacer = new StatusPacer(clock);
    assert.equal(pacer.delayMs('a', undefined, st('Pending', 0)), 0, 'the first status');
    pacer.wrote('a');
    assert.equal(pacer.delayMs('a', st('Pending', 0), st('Pending', 1)), STATUS_PROGRESS_INTERVAL_MS, 'progress right after a write waits');
    assert.equal(pacer.delayMs('b', st('Pending', 0), st('Pending', 1)), 0, 'another manifest does not');
    await clock.advance(400);
    assert.equal(pacer.delayMs('a', st('Pending', 0), st('Pending', 7)), STATUS_PROGRESS_INTERVAL_MS - 400);
    assert.equal(pacer.delayMs('a', st('Pending', 0), st('Running', 100)), 0, 'a change of phase');
    assert.equal(pacer.delayMs('a', st('Pending', 0), st('Pending', 100)), 0, 'every replica running and updated');
    assert.equal(pacer.delayMs('a', st('Running', 100, 100, 40), st('Running', 100, 100, 41)), STATUS_PROGRESS_INTERVAL_MS - 400, 'mid-rollout progress');
    await clock.advance(600);
    assert.equal(pacer.delayMs('a', st('Pending', 0), st('Pending', 9)), 0, 'a second later');
    pacer.forget('a');
    assert.equal(pacer.delayMs('a', st('Pending', 0), st('Pending', 9)), 0);
  });
});
