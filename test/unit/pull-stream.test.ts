import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyPullError } from '../../src/docker/pull-errors.js';
import { formatPullProgress, PullProgressSum, pullStreamError } from '../../src/docker/pull-stream.js';

describe('PullProgressSum', () => {
  it('sums the bytes of the layers being downloaded, a finished layer at its size', () => {
    const sum = new PullProgressSum();
    assert.equal(sum.update({ id: 'a', status: 'Pulling fs layer' }), false);
    assert.equal(sum.update({ id: 'a', status: 'Downloading', progressDetail: { current: 10, total: 100 } }), true);
    sum.update({ id: 'b', status: 'Downloading', progressDetail: { current: 5, total: 50 } });
    assert.deepEqual(sum.progress, { current: 15, total: 150 });
    assert.equal(sum.update({ id: 'b', status: 'Download complete' }), true);
    assert.equal(sum.update({ id: 'b', status: 'Pull complete' }), false);
    sum.update({ id: 'c', status: 'Already exists' });
    // Extraction reports bytes too, but of what is already counted.
    assert.equal(sum.update({ id: 'a', status: 'Extracting', progressDetail: { current: 3, total: 100 } }), false);
    assert.deepEqual(sum.progress, { current: 60, total: 150 });
  });

  it('finds the error line of a stream', () => {
    assert.equal(pullStreamError({ errorDetail: { message: 'unauthorized' }, error: 'x' }), 'unauthorized');
    assert.equal(pullStreamError({ error: 'boom' }), 'boom');
    assert.equal(pullStreamError({ status: 'Downloading' }), undefined);
  });

  it('formats progress as percent and megabytes', () => {
    assert.equal(formatPullProgress({ current: 118e6, total: 274e6 }), '43% (118/274 MB)');
    assert.equal(formatPullProgress({ current: 1.5e6, total: 2e6 }), '75% (1.5/2.0 MB)');
    assert.equal(formatPullProgress({ current: 0, total: 0 }), 'starting');
  });
});

describe('classifyPullError', () => {
  const kind = (err: unknown) => classifyPullError('reg:5000/web:1', err).kind;

  it('tells authentication refused from the messages engines give', () => {
    assert.equal(kind(new Error('Head "http://127.0.0.1:5000/v2/web/manifests/1": no basic auth credentials')), 'auth');
    assert.equal(kind(Object.assign(new Error('(HTTP code 500) server error - Get "http://127.0.0.1:5000/v2/": unauthorized: authentication required'), { statusCode: 500 })), 'auth');
    assert.equal(kind(new Error('Get "https://reg/v2/": incorrect username or password')), 'auth');
    assert.equal(classifyPullError('reg:5000/web:1', new Error('unauthorized: authentication required')).message, 'pull of reg:5000/web:1 refused: authentication failed (unauthorized: authentication required)');
  });

  it('tells a missing image or tag', () => {
    assert.equal(kind(Object.assign(new Error('manifest for reg:5000/web:1 not found: manifest unknown: manifest unknown'), { statusCode: 404 })), 'notFound');
    assert.equal(kind(new Error("pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied")), 'notFound');
    assert.equal(kind(Object.assign(new Error('x'), { statusCode: 404, json: { message: 'repository reg:5000/web not found: name unknown' } })), 'notFound');
  });

  it('tells an unreachable registry, keeping the reason', () => {
    const err = classifyPullError('reg:5000/web:1', new Error('Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused'));
    assert.equal(err.kind, 'unreachable');
    assert.equal(err.message, 'pull of reg:5000/web:1 failed: registry unreachable: Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused');
    assert.equal(kind(new Error('Get "https://reg:5000/v2/": http: server gave HTTP response to HTTPS client')), 'unreachable');
    assert.equal(kind(new Error('dial tcp: lookup reg on 127.0.0.53:53: no such host')), 'unreachable');
  });

  it('keeps anything else as it is', () => {
    const err = classifyPullError('web:1', new Error('(HTTP code 500) server error - no space left on device'));
    assert.equal(err.kind, 'other');
    assert.equal(err.message, 'pull of web:1 failed: no space left on device');
  });
});
