import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EndpointPicker, upstreamKey, type Upstream } from '../../controllers/ambassador/endpoint-picker.js';

const a = { host: '10.0.0.1', port: 1 };
const b = { host: '10.0.0.2', port: 2 };
const c = { host: '10.0.0.3', port: 3 };
const picks = (p: EndpointPicker, n: number, now = 0) => Array.from({ length: n }, () => p.pick(now)?.port);

describe('EndpointPicker', () => {
  it('picks nothing without endpoints', () => {
    assert.equal(new EndpointPicker().pick(0), undefined);
  });

  it('goes round-robin over the endpoints, in a stable order whatever order they came in', () => {
    const p = new EndpointPicker();
    p.set([c, a, b]);
    assert.deepEqual(picks(p, 7), [1, 2, 3, 1, 2, 3, 1]);
  });

  it('skips endpoints already tried for this connection', () => {
    const p = new EndpointPicker();
    p.set([a, b, c]);
    assert.deepEqual(p.pick(0, new Set([upstreamKey(a), upstreamKey(b)])), c);
    assert.equal(p.pick(0, new Set([upstreamKey(a), upstreamKey(b), upstreamKey(c)])), undefined);
  });

  it('skips an endpoint marked bad until the mark expires', () => {
    const p = new EndpointPicker(5_000);
    p.set([a, b]);
    p.markBad(a, 1_000);
    assert.deepEqual(picks(p, 3, 1_000), [2, 2, 2]);
    assert.equal(p.isBad(a, 5_999), true);
    assert.deepEqual(picks(p, 2, 6_000).sort(), [1, 2]);
  });

  it('has nothing to offer when every endpoint is bad', () => {
    const p = new EndpointPicker(5_000);
    p.set([a, b]);
    p.markBad(a, 0);
    p.markBad(b, 0);
    assert.equal(p.pick(1), undefined);
  });

  it('keeps bad marks across updates for endpoints that stay, and forgets those that go', () => {
    const p = new EndpointPicker(5_000);
    p.set([a, b]);
    p.markBad(a, 0);
    p.markBad(b, 0);
    p.set([a, c]);
    assert.equal(p.isBad(a, 1), true);
    assert.equal(p.isBad(b, 1), false);
    assert.deepEqual(p.pick(1), c);
    p.set([a, b, c]);
    assert.equal(p.isBad(b, 1), false, 'an endpoint that left and came back starts clean');
  });

  it('ignores marks for endpoints it does not have, and duplicates', () => {
    const p = new EndpointPicker();
    p.markBad(a, 0);
    p.set([a, a, b]);
    assert.equal(p.size, 2);
    assert.equal(p.isBad(a, 1), false);
  });

  it('spreads picks evenly when endpoints change in between', () => {
    const p = new EndpointPicker();
    p.set([a, b, c]);
    const seen: Upstream[] = [];
    for (let i = 0; i < 30; i++) {
      if (i === 10) p.set([a, b]);
      if (i === 20) p.set([a, b, c]);
      seen.push(p.pick(0)!);
    }
    const count = (u: Upstream) => seen.filter((s) => s.port === u.port).length;
    assert.ok(count(a) >= 9 && count(b) >= 9 && count(c) >= 5, JSON.stringify(seen.map((s) => s.port)));
  });

  it('reads a followed source when a connection needs it after a change, not at every change', () => {
    const p = new EndpointPicker(5_000);
    let current: Upstream[] = [a];
    let reads = 0;
    p.follow(() => {
      reads++;
      return current;
    });
    assert.equal(reads, 0, 'nothing read before a connection needs it');
    assert.equal(p.pick(0)?.port, 1);
    for (const next of [[a, b], [a, b, c], [b, c]]) {
      current = next;
      p.changed();
    }
    assert.equal(reads, 1, 'changes alone read nothing');
    assert.deepEqual(picks(p, 4).sort(), [2, 2, 3, 3], 'the last endpoints, round-robin');
    assert.equal(reads, 2);
    p.markBad(b, 0);
    current = [b];
    p.changed();
    assert.equal(p.isBad(b, 1), true, 'a bad mark survives while its endpoint stays');
    current = [c];
    p.changed();
    assert.equal(p.size, 1);
    assert.equal(p.isBad(b, 1), false, 'and goes with it');
    p.set([a]);
    current = [b];
    p.changed();
    assert.equal(p.pick(0)?.port, 1, 'set() stops following');
  });
});
