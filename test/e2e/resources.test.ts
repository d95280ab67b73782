import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useDokkaa } from './support/dokkaa.js';
import { sleeperManifest, waitFor } from './support/world.js';

describe('resource limits on real Docker', () => {
  const { world } = useDokkaa();

  const hostConfig = async (app: string) => {
    const [c] = await world.running(app, 'job');
    if (!c) return undefined;
    const info = await world.docker.getContainer(c.Id).inspect();
    return { id: c.Id, nanoCpus: info.HostConfig.NanoCpus, memory: info.HostConfig.Memory };
  };

  it('gives the container the manifest\'s CPUs and memory, and replaces it when they change', async () => {
    const app = `res-${world.id}`;
    await world.putManifest(app, 'job', sleeperManifest({ resources: { cpus: 0.5, memory: '64Mi' } }));
    const first = await waitFor('running with limits', async () => ((await world.status(app, 'job'))?.phase === 'Running' ? hostConfig(app) : undefined));
    assert.equal(first.nanoCpus, 500_000_000);
    assert.equal(first.memory, 64 * 2 ** 20);

    await world.putManifest(app, 'job', sleeperManifest({ resources: { cpus: 0.5, memory: '96Mi' } }));
    const second = await waitFor('a new container with the new memory limit', async () => {
      const hc = await hostConfig(app);
      return hc && hc.id !== first.id && (await world.status(app, 'job'))?.phase === 'Running' ? hc : undefined;
    });
    assert.equal(second.memory, 96 * 2 ** 20);
    assert.equal(second.nanoCpus, 500_000_000);
  });

  it('reports a nonsense amount as a manifest error and keeps what runs', async () => {
    const app = `resbad-${world.id}`;
    await world.putManifest(app, 'job', sleeperManifest({ resources: { memory: '32Mi' } }));
    const running = await waitFor('running', async () => ((await world.status(app, 'job'))?.phase === 'Running' ? hostConfig(app) : undefined));
    await world.putManifest(app, 'job', sleeperManifest({ resources: { memory: '-1Gi' } }));
    const st = await waitFor('Invalid', async () => {
      const s = await world.status(app, 'job');
      return s?.phase === 'Invalid' ? s : undefined;
    });
    assert.ok(st.errors?.some((e) => e.startsWith('resources.memory: expected a memory amount')), JSON.stringify(st.errors));
    assert.equal((await hostConfig(app))?.id, running.id, 'the last valid version keeps running');
  });
});
