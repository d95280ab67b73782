import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { imageRepository, imageTag, pinErrorOf, pinnableImage, pinnedSpecOf, pinSpec, runImageOf } from '../../api/image-pins.js';
import { templateHash } from '../../api/manifest.js';
import { spec } from './builders.js';

const D = `sha256:${'b'.repeat(64)}`;

describe('image pins', () => {
  it('pins references that name their registry and carry a tag; local and Hub-style names run by tag', () => {
    for (const image of ['reg.example.com/web:2', '127.0.0.1:5000/busybox:1', 'localhost/x:1', 'docker.io/library/nginx:1']) assert.ok(pinnableImage(image), image);
    for (const image of ['dokkaa/busybox:latest', 'nginx:latest', 'team/web:2', `reg.example.com/web@${D}`]) assert.ok(!pinnableImage(image), image);
  });

  it('splits repository and tag, registry ports included', () => {
    assert.equal(imageRepository('127.0.0.1:5000/busybox:1'), '127.0.0.1:5000/busybox');
    assert.equal(imageRepository('127.0.0.1:5000/busybox'), '127.0.0.1:5000/busybox');
    assert.equal(imageTag('127.0.0.1:5000/busybox:1'), '1');
    assert.equal(imageTag('127.0.0.1:5000/busybox'), 'latest');
    assert.equal(runImageOf({ image: '127.0.0.1:5000/busybox:1', imageDigest: D }), `127.0.0.1:5000/busybox@${D}`);
    assert.equal(runImageOf({ image: 'dokkaa/busybox:latest' }), 'dokkaa/busybox:latest');
  });

  it('applies a rollout record\'s pin only to the spec it was made for', () => {
    const s = spec({ image: 'reg.example.com/web:2' });
    const pin = { baseHash: templateHash(s), image: s.image, digest: D, restartedAt: '2026-01-01T00:00:00.000Z' };
    assert.deepEqual(pinnedSpecOf(s, { pin }), { ...s, imageDigest: D, restartedAt: pin.restartedAt });
    const changed = spec({ image: 'reg.example.com/web:2', env: { A: '1' } });
    assert.deepEqual(pinnedSpecOf(changed, { pin }), changed, 'another spec: not pinned yet');
    assert.equal(pinErrorOf(s, { pinError: { baseHash: templateHash(s), message: 'm' } }), 'm');
    assert.equal(pinErrorOf(changed, { pinError: { baseHash: templateHash(s), message: 'm' } }), undefined);
  });

  it('gives the same pinned spec for the same pin (its hash computed once), and a new one for a new pin', () => {
    const s = spec({ image: 'reg.example.com/web:2' });
    const pin = { baseHash: templateHash(s), image: s.image, digest: D };
    const first = pinSpec(s, pin);
    assert.equal(pinSpec(s, { ...pin }), first, 'an equal pin: the same object');
    const restarted = pinSpec(s, { ...pin, restartedAt: '2026-01-01T00:00:00.000Z' });
    assert.notEqual(restarted, first);
    assert.notEqual(templateHash(restarted), templateHash(first), 'a restart request changes the hash');
    const repinned = pinSpec(s, { ...pin, digest: `sha256:${'c'.repeat(64)}` });
    assert.equal(repinned.imageDigest, `sha256:${'c'.repeat(64)}`);
    assert.notEqual(templateHash(repinned), templateHash(first), 'a new digest changes the hash');
    assert.equal(templateHash(pinSpec(s, pin)), templateHash({ ...s, imageDigest: D }), 'the hash is the spec\'s, not the object\'s');
  });
});
