import { Keys } from '../../api/keys.js';
import type { EventRecord } from '../../api/records.js';
import { HealthProber } from '../../controllers/node-runner/health-prober.js';
import { NodeRunnerReconciler } from '../../controllers/node-runner/node-runner-reconciler.js';
import { CreateLimit } from '../../controllers/node-runner/create-limit.js';
import { PullCoordinator } from '../../src/docker/pull-coordinator.js';
import { ReplicaExecutor, type ReplicaRef } from '../../controllers/node-runner/replica-executor.js';
import { ContainerCache } from '../../controllers/node-runner/container-cache.js';
import { ImagesPresent } from '../../controllers/node-runner/images-present.js';
import { OwnEvents } from '../../controllers/node-runner/own-events.js';
import type { SecretFileStore } from '../../controllers/node-runner/secret-file-store.js';
import type { FileWrite } from '../../controllers/node-runner/file-plan.js';
import { SealingKey } from '../../src/agent/sealing-key.js';
import { NodeRegistryCredentials } from '../../src/registry/node-registry-credentials.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeLease } from '../../src/agent/node-lease.js';
import type { Clock, TimerHandle } from '../../src/clock.js';
import type { EventRecorder } from '../../src/events/event-recorder.js';
import type { Logger } from '../../src/logging.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeEngine } from './fake-engine.js';
import { FakeKvStore, grantRevisions } from './fake-kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { HostCaches } from '../../src/agent/host-caches.js';

/** A clock whose sleeps end at once, moving time on by what they asked for. */
export class SkippingClock implements Clock {
  readonly slept: number[] = [];
  constructor(public time = 0) {}
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.slept.push(ms);
    this.time += ms;
    queueMicrotask(fn);
    return 0;
  }
  clearTimeout(): void {}
}

export type Logged = { level: string; message: string; fields: Record<string, unknown> };

/** The host's secret files, in a map: directory -> file name -> {data, mode}. */
export class MemoryFileStore {
  readonly dirs = new Map<string, Map<string, { data: string; mode: number }>>();
  dirOf(ref: ReplicaRef): string {
    return `/tmpfs/${ref.app}/${ref.name}/${ref.replica}`;
  }
  async write(ref: ReplicaRef, files: FileWrite[]): Promise<void> {
    this.dirs.set(this.dirOf(ref), new Map(files.map((f) => [f.name, { data: f.data.toString(), mode: f.mode }])));
  }
  async remove(ref: ReplicaRef): Promise<void> {
    this.dirs.delete(this.dirOf(ref));
  }
  async has(ref: ReplicaRef): Promise<boolean> {
    return this.dirs.has(this.dirOf(ref));
  }
  async replicaIds(): Promise<string[]> {
    return [...this.dirs.keys()].map((d) => d.split('/').slice(2).join('/'));
  }
}

/** A Logger that keeps what it is given. */
export function memoryLogger(into: Logged[]): Logger {
  const at = (level: string) => (message: string, fields: Record<string, unknown> = {}) => void into.push({ level, message, fields });
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as Logger;
}

/**
 * Host `h1` of cluster `/d` for the node runner, on fakes: store, engine, lease (id "0",
 * as FakeKvStore records every key), events kept in `events`, logs in `logged`. Health
 * probes never run (their clock does not move). `config`: the agent's --allow-host-path prefixes.
 * The informers of h1's placements and records are running and synced, as the controller has them.
 */
export async function nodeRunnerWorld(start = Date.parse('2026-01-01T00:00:00.000Z'), config: { allowHostPaths?: string[] } = {}) {
  const store = new FakeKvStore();
  const clock = new SkippingClock(start);
  const engine = new FakeEngine(() => clock.now());
  const keys = new Keys('/d');
  const grantRevisionOf = grantRevisions(store);
  const lease = {
    node: 'h1',
    leaseId: '0',
    id() {
      return this.leaseId;
    },
    grantRevision() {
      return grantRevisionOf(this.leaseId);
    },
    /** Whether etcd acknowledges the lease (see NodeLease.live). */
    renewed: true,
    live() {
      return this.renewed;
    },
    address: () => '10.0.0.1',
    containerGateway: () => '172.17.0.1',
    containerResolver: () => undefined,
  };
  const events: (Omit<EventRecord, 'time' | 'source'> & { app: string; name: string })[] = [];
  const recorder = { record: async (app: string, name: string, e: Omit<EventRecord, 'time' | 'source'>) => void events.push({ app, name, ...e }) };
  const prober = new HealthProber(new FakeClock());
  const nodeLease = lease as unknown as NodeLease;
  const logged: Logged[] = [];
  const log = memoryLogger(logged);
  // Its own clock: the stall timers of pulls are not the node runner's waits the tests look at.
  const sealingKey = new SealingKey({ node: 'h1', stateDir: mkdtempSync(join(tmpdir(), 'dokkaa-unit-state-')) });
  const credentials = new NodeRegistryCredentials(store, keys, { node: 'h1' }, sealingKey);
  const pulls = new PullCoordinator(engine, new FakeClock(start), (ref) => credentials.authFor(ref), log);
  const files = new MemoryFileStore();
  const fileStore = files as unknown as SecretFileStore;
  const limit = new CreateLimit(clock);
  // The informers the node runner's controller would have synced before its first reconcile.
  const informers = new InformerFactory(store, new FakeClock(start), log);
  const caches = new HostCaches(informers, keys, { node: 'h1' }, nodeLease);
  const { placements, records } = caches;
  const links = informers.informer(Resources.links(keys));
  const containers = new ContainerCache(engine, keys, { node: 'h1' }, clock, log);
  const executor = new ReplicaExecutor(store, engine, keys, clock, nodeLease, prober, recorder as unknown as EventRecorder, pulls, fileStore, limit, caches, new OwnEvents(clock), containers, new ImagesPresent());
  const reconciler = new NodeRunnerReconciler(store, engine, keys, clock, nodeLease, prober, executor, config, fileStore, sealingKey, caches, containers, informers);
  for (const cache of [placements, records, links, containers]) cache.acquire();
  await Promise.all([placements.synced(), records.synced(), links.synced(), containers.synced()]);
  // Synced is listed; the fake's watches open a turn later, and miss what is written before.
  await flush();
  return { store, clock, engine, keys, lease, events, prober, executor, reconciler, logged, log, files, sealingKey, limit, records, containers };
}
