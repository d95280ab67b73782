import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SchedulerCache } from '../controllers/scheduler/scheduler-cache.js';
import { schedulerModule } from '../controllers/scheduler/scheduler-module.js';
import { leaderModule } from '../src/controller/leader-module.js';
import { buildContainer } from '../cli/process-container.js';
import { createLogger } from '../src/logging.js';
import { Manager } from '../src/manager.js';
import type { EtcdClientConfig } from '../src/etcd/etcd-tls.js';

/**
 * The scheduler as `dokkaa controller` runs it (leader election, then the scheduler
 * controller with its SchedulerReconciler, real etcd), without the other cluster-wide
 * controllers, in a process of its own so that its memory can be read alone. It logs as the
 * controller does (info, JSON lines on stderr; the bench sends them to a file). Driven by
 * bench/scheduler-sim.ts over IPC: it starts at once, answers {kind:'until', count} when it
 * has committed that many placements, {kind:'memory'} with process.memoryUsage(), and
 * exits on {kind:'stop'}.
 */
// The lab's etcd as the bench reaches it (its URL and, with TLS, the admin's files).
const etcdConfig = JSON.parse(process.env.BENCH_ETCD_CONFIG!) as EtcdClientConfig;
const prefix = process.env.BENCH_PREFIX!;
const config = {
  ...etcdConfig,
  prefix,
  docker: 'unix:///nonexistent.sock',
  node: 'bench-scheduler',
  address: '',
  labels: {},
  leaseTtlSeconds: 10,
  resyncSeconds: 30,
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
  fence: false,
};
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const container = buildContainer(config, createLogger(config.logLevel), [leaderModule, schedulerModule]);
const manager = container.get(Manager);
await manager.start();
process.send!({ kind: 'started' });
const cache = container.get(SchedulerCache);
/** Placements committed by this scheduler (its cache applies each of its transactions at once). */
const placed = () => {
  let n = 0;
  for (const v of cache.allocated().values()) n += v.replicas;
  return n;
};
process.on('message', (msg: { kind: string; count?: number; timeoutMs?: number }) => {
  if (msg.kind === 'until') {
    // Reports when `count` placements are committed: read in-process, every 20 ms, so
    // that measuring adds no load on etcd.
    const deadline = Date.now() + (msg.timeoutMs ?? 300_000);
    const timer = setInterval(() => {
      const n = placed();
      if (n >= msg.count! || Date.now() > deadline) {
        clearInterval(timer);
        process.send!({ kind: 'until', at: Date.now(), placed: n });
      }
    }, 20);
  } else if (msg.kind === 'memory') {
    // After a full collection: what the scheduler retains, not garbage not yet collected.
    const before = process.memoryUsage();
    gc();
    process.send!({ kind: 'memory', usage: process.memoryUsage(), before });
  } else if (msg.kind === 'stop') {
    void manager.stop().finally(() => process.exit(0));
  }
});
