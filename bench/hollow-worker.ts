import 'reflect-metadata';
import { SystemClock } from '../src/clock.js';
import { Etcd3KvStore } from '../src/etcd/etcd3-kv-store.js';
import { InformerFactory } from '../src/informer/informer-factory.js';
import { createLogger } from '../src/logging.js';
import { hollowHost, type HollowHost } from './hollow-host.js';

/**
 * One process of hollow hosts for the scale bench (bench/scale.ts), driven over IPC:
 * {kind:'start', nodes} builds and starts a hollow host per node name (in small batches,
 * as hosts joining a cluster would), answering {kind:'started'}; {kind:'stats'} answers
 * what its engines hold and the process's memory; {kind:'stop'} stops every host (each
 * revokes its lease) and exits, {kind:'exit'} exits at once (teardown: the bench's etcd
 * goes too). Killing the process is a host failure: leases expire.
 *
 * Settings from the environment: BENCH_ETCD, BENCH_PREFIX, BENCH_DIR (scratch), BENCH_TTL,
 * BENCH_RESYNC, BENCH_SHARED_WATCHES (1: the hosts share their cluster-wide informers),
 * BENCH_HOSTS_PER_CLIENT (hosts per etcd client; 1, as real hosts, by default), BENCH_LOG_LEVEL.
 */

const env = (name: string, dflt: string) => process.env[name] ?? dflt;
const etcd = env('BENCH_ETCD', 'http://127.0.0.1:2379').split(',');
const prefix = env('BENCH_PREFIX', '/dokkaa');
const dir = env('BENCH_DIR', '/tmp/dokkaa-hollow');
const ttl = Number(env('BENCH_TTL', '10'));
const resync = Number(env('BENCH_RESYNC', '30'));
const sharedWatches = env('BENCH_SHARED_WATCHES', '1') === '1';
const hostsPerClient = Number(env('BENCH_HOSTS_PER_CLIENT', '1'));
const log = createLogger(env('BENCH_LOG_LEVEL', 'warn'));
const clock = new SystemClock();
const stores: Etcd3KvStore[] = [];
let shared: InformerFactory | undefined;
const hosts: HollowHost[] = [];

function storeFor(i: number): Etcd3KvStore {
  const k = Math.floor(i / hostsPerClient);
  while (stores.length <= k) stores.push(new Etcd3KvStore({ hosts: etcd }));
  return stores[k]!;
}

async function start(nodes: { name: string; address: string }[]): Promise<void> {
  if (sharedWatches) shared ??= new InformerFactory(storeFor(0), clock, log);
  const BATCH = 10;
  for (let i = 0; i < nodes.length; i += BATCH) {
    await Promise.all(
      nodes.slice(i, i + BATCH).map(async (n) => {
        const host = hollowHost({
          node: n.name,
          address: n.address,
          etcd,
          prefix,
          store: storeFor(hosts.length),
          ...(shared ? { shared } : {}),
          leaseTtlSeconds: ttl,
          resyncSeconds: resync,
          dir,
          log: log.child({ node: n.name }),
          capacity: { cpus: 512, memoryBytes: 2 ** 41, version: 'hollow' },
        });
        hosts.push(host);
        await host.manager.start();
      }),
    );
  }
}

function stats() {
  let running = 0;
  let containers = 0;
  const calls: Record<string, number> = {};
  for (const h of hosts) {
    running += h.engine.running();
    containers += h.engine.size;
    for (const [verb, n] of Object.entries(h.engine.calls)) calls[verb] = (calls[verb] ?? 0) + n;
  }
  return { kind: 'stats', hosts: hosts.length, running, containers, calls, memory: process.memoryUsage() };
}

async function stop(): Promise<void> {
  await Promise.allSettled(hosts.map((h) => h.manager.stop()));
  for (const s of stores) s.close();
}

process.on('message', (msg: { kind: string; nodes?: { name: string; address: string }[] }) => {
  if (msg.kind === 'start') {
    start(msg.nodes ?? []).then(
      () => process.send!({ kind: 'started', hosts: hosts.length }),
      (err: unknown) => process.send!({ kind: 'error', message: (err as Error).message }),
    );
  } else if (msg.kind === 'stats') {
    process.send!(stats());
  } else if (msg.kind === 'stop') {
    void stop().finally(() => process.exit(0));
  } else if (msg.kind === 'exit') {
    process.exit(0);
  }
});
process.send!({ kind: 'ready' });
