import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveLimit } from '../../src/queue/adaptive-limit.js';
import { FakeClock } from './fake-clock.js';
import { CreateLimit, NODE_RUNNER_LIMIT } from '../../controllers/node-runner/create-limit.js';

const opts = { initial: 8, min: 2, max: 64, tolerance: 3, backoff: 0.5, window: 4 };

describe('AdaptiveLimit (AIMD on latency)', async () => {
  it('grows by one per sample within the tolerance until the first saturation, up to max', async () => {
    const l = new AdaptiveLimit(new FakeClock(), opts);
    assert.equal(l.current, 8);
    for (let i = 0; i < 8; i++) l.sample(100 + i * 20);
    assert.equal(l.current, 16, '100 to 240 ms: within 3x the fastest');
    for (let i = 0; i < 100; i++) l.sample(100);
    assert.equal(l.current, 64);
  });

  it('backs off on a sample over tolerance x the fastest recent one, once per sample length, never under min', async () => {
    const clock = new FakeClock();
    const l = new AdaptiveLimit(clock, { ...opts, initial: 16 });
    l.sample(100);
    await clock.advance(1_000);
    l.sample(400);
    assert.equal(l.current, 8, '400 ms > 3 x 100 ms: halved');
    await clock.advance(100);
    l.sample(400);
    assert.equal(l.current, 8, 'began 400 ms ago, before the decrease: not counted again');
    await clock.advance(1_000);
    l.sample(400);
    assert.equal(l.current, 4, 'began after the decrease: halved again');
    for (let i = 0; i < 3; i++) {
      await clock.advance(20_000);
      l.sample(10_000);
    }
    assert.equal(l.current, 2, 'never under min');
  });

  it('after a saturation grows by one per limit samples (congestion avoidance)', async () => {
    const clock = new FakeClock();
    const l = new AdaptiveLimit(clock, { ...opts, initial: 7 });
    l.sample(100);
    await clock.advance(1_000);
    l.sample(500);
    assert.equal(l.current, 4, '7 + 1, halved');
    for (let i = 0; i < 4; i++) l.sample(100);
    assert.equal(l.current, 4, 'four samples at 4: not yet 5 (4 + 1/4 + 1/4.25 + ...)');
    l.sample(100);
    assert.equal(l.current, 5);
  });

  it('judges against the fastest of the last `window` samples: a host that got slower for good is not held to its best moment', async () => {
    const clock = new FakeClock();
    const l = new AdaptiveLimit(clock, { ...opts, initial: 10 });
    l.sample(50);
    for (let i = 0; i < 4; i++) l.sample(140);
    assert.equal(l.current, 15, '140 ms is within 3 x 50 ms');
    await clock.advance(10_000);
    l.sample(500);
    assert.equal(l.current, 7, '500 ms > 3 x 140 ms, the fastest of the last 4 (50 ms has left the window): 15 x 0.5');
  });
});

describe("the node runner's limit (NODE_RUNNER_LIMIT)", async () => {
  it('sends a host its first 16 replicas at once and keeps 8 in flight on an engine that serializes starts', async () => {
    const clock = new FakeClock();
    const l = new CreateLimit(clock);
    assert.equal(l.current, 16);
    // A serializing engine: each create + start takes 250 ms per request in flight, however many.
    for (let batch = 0; batch < 20; batch++) {
      const inFlight = l.current;
      for (let i = 1; i <= inFlight; i++) {
        await clock.advance(250);
        l.sample(250 * i);
      }
    }
    assert.equal(l.current, NODE_RUNNER_LIMIT.min);
    assert.equal(NODE_RUNNER_LIMIT.min, 8, 'a host given up to 8 new replicas gets them all at once, as the floor sends them');
  });
});
