import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { Keys } from '../../api/keys.js';
import { ContainerCache } from '../../controllers/node-runner/container-cache.js';
import { LABEL } from '../../controllers/node-runner/container-template.js';
import { SystemClock } from '../../src/clock.js';
import { STREAM_CONNECTED, type ContainerEvent } from '../../src/docker/container-engine.js';
import { DockerodeEngine } from '../../src/docker/dockerode-engine.js';
import { createLogger } from '../../src/logging.js';
import { DOCKER, IMAGE, uid, waitFor } from './support/world.js';

/** The node runner's Docker-side cache on a real engine: Docker's events keep it, not list calls. */
describe('ContainerCache on a real Docker Engine', () => {
  const docker = new Docker({ socketPath: DOCKER });
  const engine = new DockerodeEngine(`unix://${DOCKER}`, new SystemClock(), createLogger('error', true));

  it('the event stream says it is connected before any event, so that a listing after it misses nothing', async () => {
    const node = `ev-${uid()}`;
    const seen: ContainerEvent[] = [];
    const sub = engine.events({ [LABEL.node]: node }).subscribe((ev) => seen.push(ev));
    let c: Docker.Container | undefined;
    try {
      await waitFor('the stream to connect', async () => seen.length > 0);
      c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'], Labels: { [LABEL.node]: node } });
      await waitFor('the create event', async () => seen.some((ev) => ev.action === 'create'));
      assert.deepEqual(seen.map((ev) => [ev.action, ev.id]), [[STREAM_CONNECTED, ''], ['create', c.id]]);
    } finally {
      sub.unsubscribe();
      await c?.remove({ force: true });
    }
  });

  it('lists what runs, then follows containers made, renamed, stopped and removed by anyone', async () => {
    const node = `cc-${uid()}`;
    const cluster = `/cc-${uid()}`;
    const labels = (replica: number) => ({ [LABEL.managed]: 'true', [LABEL.cluster]: cluster, [LABEL.node]: node, [LABEL.app]: 'shop', [LABEL.name]: 'web', [LABEL.replica]: String(replica) });
    const made: Docker.Container[] = [];
    const make = async (replica: number, name: string) => {
      const c = await docker.createContainer({ Image: IMAGE, Cmd: ['sleep', '3600'], name, Labels: labels(replica) });
      made.push(c);
      await c.start();
      return c;
    };
    const before = await make(0, `cc-${uid()}-0`);
    const cache = new ContainerCache(engine, new Keys(cluster), { node }, new SystemClock(), createLogger('error', true));
    cache.acquire();
    try {
      await cache.synced();
      assert.deepEqual(cache.ofReplica('shop', 'web', 0).map((c) => [c.id, c.state]), [[before.id, 'running']]);

      const renamed = `cc-${uid()}-1b`;
      const later = await make(1, `cc-${uid()}-1`);
      await waitFor('the new container running in the cache', async () => cache.ofReplica('shop', 'web', 1)[0]?.state === 'running');
      await later.rename({ name: renamed });
      await waitFor('the rename', async () => cache.ofReplica('shop', 'web', 1)[0]?.name === renamed);
      await before.stop({ t: 0 });
      await waitFor('the stop', async () => cache.ofReplica('shop', 'web', 0)[0]?.state === 'exited');
      await before.remove({ force: true });
      await waitFor('the removal', async () => cache.ofReplica('shop', 'web', 0).length === 0);
      assert.deepEqual(cache.replicaIds(), ['shop/web/1']);
      // A listing now finds what the events said.
      await cache.relist();
      assert.deepEqual(cache.ofReplica('shop', 'web', 1).map((c) => [c.id, c.name, c.state]), [[later.id, renamed, 'running']]);
      assert.deepEqual(cache.replicaIds(), ['shop/web/1']);
    } finally {
      await cache.release();
      await Promise.all(made.map((c) => c.remove({ force: true }).catch(() => undefined)));
    }
  });
});
