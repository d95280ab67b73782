import 'reflect-metadata';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { Keys } from '../api/keys.js';
import { AGENT_MODULES, buildContainer, CONTROLLER_MODULES } from '../cli/process-container.js';
import { NodeRunnerReconciler } from '../controllers/node-runner/node-runner-reconciler.js';
import { ServiceRegistrarReconciler } from '../controllers/service-registrar/service-registrar-reconciler.js';
import type { Config } from '../src/config.js';
import type { Reconciler } from '../src/controller/controller.js';
import { Etcd3KvStore } from '../src/etcd/etcd3-kv-store.js';
import { etcdClientOptions } from '../src/etcd/etcd-tls.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import { TYPES } from '../src/ioc/tokens.js';
import { createLogger } from '../src/logging.js';
import { Manager } from '../src/manager.js';

/**
 * The etcd calls of one agent while REPLICAS replicas are placed on it, run, and are removed:
 * the real agent (every agent module) and the real controllers, in this process, against
 * the test environment's etcd and Docker (DOKKAA_TEST_ETCD, DOKKAA_TEST_DOCKER: run it inside
 * the environment's network namespace, as /tmp/run-e2e.sh runs the e2e tests). The agent's
 * store counts each call by method and by the section of etcd it reads (`placements`,
 * `node-replicas`, ...); its node runner's and registrar's reconciles are counted beside.
 *
 *   node dist/bench/agent-reads.js [replicas]
 */

const REPLICAS = Number(process.argv[2] ?? 10);
const TIMEOUT_MS = 180_000;

/** Calls by `method section`, e.g. `get placements`. */
const calls = new Map<string, number>();

/** The section of a key or prefix: its first segment under the cluster prefix. */
function section(keys: Keys, key: unknown): string {
  if (typeof key !== 'string') return '-';
  const rest = key.startsWith(keys.root) ? key.slice(keys.root.length + 1) : key;
  return rest.split('/')[0] || rest;
}

/** The store, counting every call made through it. */
function counted(store: KvStore, keys: Keys): KvStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        const what = `${prop} ${prop === 'txn' || prop === 'txnAt' ? section(keys, (args[1] as { key: string }[])[0]?.key) : section(keys, args[0])}`;
        calls.set(what, (calls.get(what) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Counts the reconciles of a reconciler the container made (the controller calls it through the instance). */
function countReconciles(reconciler: Reconciler, counts: { n: number }): void {
  const reconcile = reconciler.reconcile.bind(reconciler);
  reconciler.reconcile = (...args) => {
    counts.n++;
    return reconcile(...args);
  };
}

async function waitFor(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const etcdUrl = process.env.DOKKAA_TEST_ETCD;
  const dockerSocket = process.env.DOKKAA_TEST_DOCKER?.replace(/^unix:\/\//, '');
  if (!etcdUrl || !dockerSocket) throw new Error('DOKKAA_TEST_ETCD and DOKKAA_TEST_DOCKER must be set (run inside the test environment)');
  const id = Math.random().toString(16).slice(2, 8);
  const config: Config = {
    etcd: [etcdUrl], prefix: `/reads-${id}`, docker: `unix://${dockerSocket}`, node: `reads-${id}`, address: '', labels: {},
    leaseTtlSeconds: 10, resyncSeconds: 600, logLevel: 'error', fence: true,
    dnsPort: 0, routerHttpPort: 0, routerHttpsPort: 0, stateDir: join(tmpdir(), 'dokkaa-e2e-state'),
  };
  const keys = new Keys(config.prefix);
  const log = createLogger('error', true);
  const admin = new Etcd3KvStore(etcdClientOptions(config, new Date()));
  const docker = new Docker({ socketPath: dockerSocket });

  const controllers = buildContainer(config, log, CONTROLLER_MODULES);
  const agent = buildContainer(config, log, AGENT_MODULES);
  const store = new Etcd3KvStore(etcdClientOptions(config, new Date()));
  agent.rebind(TYPES.KvStore).toConstantValue(counted(store, keys));
  const runner = { n: 0 };
  const registrar = { n: 0 };
  countReconciles(agent.get(NodeRunnerReconciler), runner);
  countReconciles(agent.get(ServiceRegistrarReconciler), registrar);

  const containers = async () => (await docker.listContainers({ all: true, filters: { label: [`dokkaa.node=${config.node}`] } })).length;
  const count = async (prefix: string) => (await admin.list(prefix)).kvs.length;
  try {
    await Promise.all([controllers.get(Manager).start(), agent.get(Manager).start()]);
    const manifest = { image: 'dokkaa/busybox', command: ['httpd', '-f', '-p', '80', '-h', '/www'], services: { web: 80 }, scale: REPLICAS };
    await admin.put(keys.manifest('reads', 'web'), JSON.stringify(manifest));
    await waitFor(`${REPLICAS} endpoints`, async () => (await count(keys.nodeEndpoints(config.node))) === REPLICAS);
    await admin.delete(keys.manifest('reads', 'web'));
    await waitFor('no container, record or endpoint', async () => (await containers()) === 0 && (await count(keys.nodeReplicas(config.node))) === 0 && (await count(keys.nodeEndpoints(config.node))) === 0);
    // What the last writes set off.
    await new Promise((r) => setTimeout(r, 2_000));
  } finally {
    await agent.get(Manager).stop();
    await controllers.get(Manager).stop();
    store.close();
    for (const c of await docker.listContainers({ all: true, filters: { label: [`dokkaa.node=${config.node}`] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    await admin.deletePrefix(`${config.prefix}/`);
    admin.close();
  }
  console.log(`${REPLICAS} replicas placed, run and removed on one agent: ${runner.n} node-runner reconciles, ${registrar.n} registrar reconciles`);
  console.log('agent etcd calls (method section count):');
  for (const [what, n] of [...calls].sort(([a], [b]) => a.localeCompare(b))) console.log(`  ${what} ${n}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
