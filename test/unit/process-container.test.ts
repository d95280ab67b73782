import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_MODULES, buildContainer, CONTROLLER_MODULES } from '../../cli/process-container.js';
import type { Config } from '../../src/config.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { createLogger } from '../../src/logging.js';
import { Manager } from '../../src/manager.js';
import { FakeEngine } from './fake-engine.js';
import { FakeKvStore } from './fake-kv-store.js';

const config: Config = {
  etcd: ['http://fake:2379'], prefix: '/d', docker: 'unix:///fake.sock', node: 'n1', address: '10.0.0.1', labels: {},
  leaseTtlSeconds: 5, resyncSeconds: 30, logLevel: 'error', fence: false, dnsPort: 0, splice: 'off', tcpCongestion: 'system',
  routerHttpPort: 0, routerHttpsPort: 0, stateDir: mkdtempSync(join(tmpdir(), 'dokkaa-state-')),
};

/**
 * The real container of a `dokkaa up` process (every agent and controller module), with only
 * its edges swapped (the etcd store and the Docker engine are fakes): it assembles, starts,
 * and watches each prefix once however many parts read it.
 */
describe('the process container', () => {
  it('runs every agent and controller module on one watch per prefix', async () => {
    const store = new FakeKvStore();
    const container = buildContainer(config, createLogger('error', true), [...AGENT_MODULES, ...CONTROLLER_MODULES]);
    container.rebind(TYPES.KvStore).toConstantValue(store);
    container.rebind(TYPES.ContainerEngine).toConstantValue(new FakeEngine());
    const manager = container.get(Manager);
    await manager.start();
    try {
      // The leader's controllers start once it is elected: wait until the scheduler's informers run.
      const factory = container.get(InformerFactory);
      const deadline = Date.now() + 5_000;
      while (!factory.counts().some((c) => c.prefix === '/d/apps/' && c.running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      const prefixes = store.liveWatchers().map((w) => w.prefix);
      const twice = prefixes.filter((p, i) => prefixes.indexOf(p) !== i);
      assert.deepEqual(twice, [], 'no prefix is watched twice');
      for (const p of ['/d/apps/', '/d/links/', '/d/node-replicas/', '/d/node-replicas/n1/', '/d/node-endpoints/', '/d/node-endpoints/n1/', '/d/service-endpoints/', '/d/replicas/', '/d/services/', '/d/events/', '/d/prepulled/', '/d/ports/', '/d/portalloc/', '/d/nodes/', '/d/maintenance/', '/d/placements/', '/d/placements/n1/', '/d/status/', '/d/rollouts/', '/d/restarts/', '/d/prepull/']) {
        assert.ok(prefixes.includes(p), `${p} is watched (watched: ${prefixes.join(' ')})`);
      }
      assert.deepEqual(factory.counts().filter((c) => c.watchesOpened !== 1).map((c) => c.prefix), [], 'each informer opened one watch');
      assert.deepEqual(prefixes.filter((p) => p.startsWith('/d/service-endpoints/') && p !== '/d/service-endpoints/'), [], 'no app of the index watched: nothing placed here links to one, nothing routed, no name looked up');
    } finally {
      await manager.stop();
    }
    assert.deepEqual(store.liveWatchers().map((w) => w.prefix).filter((p) => p.endsWith('/')), [], 'stopping releases every informer');
  });
});
