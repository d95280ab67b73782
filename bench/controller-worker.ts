import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ContainerModule } from 'inversify';
import { dnsRecordsModule } from '../controllers/dns-records/dns-records-module.js';
import { endpointIndexModule } from '../controllers/endpoint-index/endpoint-index-module.js';
import { linkInjectorModule } from '../controllers/link-injector/link-injector-module.js';
import { routePublisherModule } from '../controllers/route-publisher/route-publisher-module.js';
import { schedulerModule } from '../controllers/scheduler/scheduler-module.js';
import { secretsModule } from '../controllers/secrets/secrets-module.js';
import { statusModule } from '../controllers/status/status-module.js';
import { buildContainer } from '../cli/process-container.js';
import { TYPES } from '../src/ioc/tokens.js';
import { createLogger } from '../src/logging.js';

/**
 * One cluster-wide controller (BENCH_CONTROLLER: a key of MODULES) in a process of its own, so that the scale bench reads its CPU and memory alone from /proc.
 * Its parts (the module's LeaderRunnables) are started at once, as the elected leader
 * starts them; there is no election, since each controller here is the only one of its
 * kind. IPC: {kind:'memory'} answers process.memoryUsage() after a full collection;
 * {kind:'stop'} stops it and exits; {kind:'exit'} exits at once.
 */
const MODULES: Record<string, ContainerModule> = {
  scheduler: schedulerModule,
  'link-injector': linkInjectorModule,
  status: statusModule,
  'endpoint-index': endpointIndexModule,
  'dns-records': dnsRecordsModule,
  'route-publisher': routePublisherModule,
  secrets: secretsModule,
};
const which = process.env.BENCH_CONTROLLER ?? '';
const module = MODULES[which];
if (!module) throw new Error(`BENCH_CONTROLLER: expected ${Object.keys(MODULES).join(' | ')}, got ${JSON.stringify(which)}`);
const config = {
  etcd: (process.env.BENCH_ETCD ?? 'http://127.0.0.1:2379').split(','),
  prefix: process.env.BENCH_PREFIX ?? '/dokkaa',
  docker: 'unix:///nonexistent.sock',
  node: `bench-${which}`,
  address: '',
  labels: {},
  leaseTtlSeconds: Number(process.env.BENCH_TTL ?? 10),
  resyncSeconds: Number(process.env.BENCH_RESYNC ?? 30),
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'warn',
  fence: false,
};
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const container = buildContainer(config, createLogger(config.logLevel), [module]);
const parts = container.getAll(TYPES.LeaderRunnable);
for (const p of parts) await p.start();
process.send!({ kind: 'started' });
process.on('message', (msg: { kind: string }) => {
  if (msg.kind === 'memory') {
    const before = process.memoryUsage();
    gc();
    process.send!({ kind: 'memory', usage: process.memoryUsage(), before });
  } else if (msg.kind === 'stop') {
    void Promise.allSettled([...parts].reverse().map((p) => p.stop())).finally(() => process.exit(0));
  } else if (msg.kind === 'exit') {
    process.exit(0);
  }
});
