import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import type { Keys } from '../../api/keys.js';
import type { ReplicaRecord } from '../../api/records.js';
import { HostCaches } from '../../src/agent/host-caches.js';
import { OwnEvents } from './own-events.js';
import { ContainerCache } from './container-cache.js';
import { ImagesPresent } from './images-present.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { sleep, type Clock } from '../../src/clock.js';
import { statusCode, type ContainerEngine, type ContainerSummary, type CreateSpec, type PullProgress } from '../../src/docker/container-engine.js';
import { PullCoordinator } from '../../src/docker/pull-coordinator.js';
import { HOST_STATIC_SHELL, launchThroughShell } from './secret-env.js';
import { classifyPullError, CredentialsPending } from '../../src/docker/pull-errors.js';
import { formatPullProgress } from '../../src/docker/pull-stream.js';
import type { KeyValue, KvStore } from '../../src/etcd/kv-store.js';
import { withoutAt, type Replica } from '../../src/informer/resources.js';
import type { Cached, SharedInformer } from '../../src/informer/shared-informer.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import type { WorkerSlot } from '../../src/queue/work-queue.js';
import { LABEL } from './container-template.js';
import { CreateLimit } from './create-limit.js';
import { HealthProber } from './health-prober.js';
import { SecretFileStore } from './secret-file-store.js';
import type { ContainerTemplate, Step } from './replica-plan.js';

/** How long endpoints get to drop a replica before its container is stopped. */
export const DRAIN_MS = 1_000;

/** The replica a run of steps is for. */
export interface ReplicaRef {
  app: string;
  name: string;
  replica: number;
}

/**
 * A cached replica record as the executor compares writes with it: its value in the form
 * this host writes it (canonical JSON), its mod revision and its lease.
 */
export function storedRecord(cached: Cached<Replica> | undefined): KeyValue | undefined {
  return cached && { key: cached.key, value: canonicalJson(withoutAt(cached.value)), modRevision: cached.modRevision, lease: cached.lease };
}

/**
 * Performs the node runner's planned steps against the engine, the store and the event
 * recorder. Steps run in order; the first that throws ends the run (the reconcile is
 * retried with backoff). Events are best effort and never awaited. Each write or delete of
 * the replica record is applied to the agent's informer of this host's records as soon as
 * etcd committed it (assume): only this host writes its records, so that cache is then as
 * new as etcd, and the next reconcile (or `readRecord`) reads it instead of etcd.
 */
@injectable()
export class ReplicaExecutor {
  private readonly records: SharedInformer<Replica>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.ContainerEngine) private readonly engine: ContainerEngine,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(HealthProber) private readonly prober: HealthProber,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(PullCoordinator) private readonly pulls: PullCoordinator,
    @inject(SecretFileStore) private readonly files: SecretFileStore,
    @inject(CreateLimit) private readonly limit: CreateLimit,
    @inject(HostCaches) caches: HostCaches,
    @inject(OwnEvents) private readonly own: OwnEvents,
    @inject(ContainerCache) private readonly containers: ContainerCache,
    @inject(ImagesPresent) private readonly images: ImagesPresent,
  ) {
    this.records = caches.records;
  }

  /**
   * Begins one reconcile of one replica. `stored` is its record as read at the start (see
   * storedRecord): writes are skipped when they would store the same under the same lease
   * (`readRecord` reads it again, from the cache). The function returned runs steps and
   * resolves with the id of the container a `create` step made, if any. While it waits (a
   * pull, a container's exit after its stop signal, the drain before it) the reconcile gives
   * its `worker` back: the workers bound how much engine work is in flight, and a wait is
   * none. So replicas waiting for an image, or stopping with a long grace period, hold none.
   */
  begin(ref: ReplicaRef, stored: KeyValue | undefined, log: Logger, worker?: WorkerSlot): (steps: Step[]) => Promise<string | undefined> {
    return async (steps) => {
      let created: string | undefined;
      for (const step of steps) {
        if (step.kind === 'readRecord') stored = storedRecord(this.records.get(this.recordKey(ref)));
        // Progress written during a pull makes the record read at the start stale.
        else if (step.kind === 'pull') stored = (await this.pullImage(step, ref, stored, log, worker)) ? undefined : stored;
        else created = (await this.perform(step, ref, stored, log, worker)) ?? created;
      }
      return created;
    };
  }

  private async perform(step: Exclude<Step, { kind: 'readRecord' | 'pull' }>, ref: ReplicaRef, stored: KeyValue | undefined, log: Logger, worker?: WorkerSlot): Promise<string | void> {
    const waiting = <T>(work: Promise<T>): Promise<T> => (worker ? worker.idle(work) : work);
    switch (step.kind) {
      case 'remove':
        return this.removeAll(step.containers, step.reason, step.graceSeconds, ref, log, waiting);
      case 'deleteRecord': {
        const modRevision = step.modRevision ?? stored?.modRevision;
        return modRevision === undefined ? undefined : this.deleteRecord(this.recordKey(ref), modRevision);
      }
      case 'writeRecord':
        return this.write(stored, step.record);
      case 'drain':
        return waiting(sleep(this.clock, DRAIN_MS));
      case 'writeFiles':
        return this.files.write(ref, step.files);
      case 'removeFiles':
        return this.files.remove(ref);
      case 'create': {
        const t0 = this.clock.now();
        this.own.creating(step.spec.name);
        const id = await this.createOrAdopt(step.spec, log);
        this.own.starting(id);
        await this.engine.start(id);
        // The engine's pace sets how many replicas the node runner reconciles at once.
        this.limit.sample(this.clock.now() - t0);
        log.info('container started', { containerId: id, image: step.spec.image });
        this.event(ref, 'Normal', 'Started', `started container ${step.name} (${step.spec.image})`);
        return id;
      }
      case 'volumes':
        for (const v of step.volumes) await this.engine.createVolume(v.name, v.labels);
        return;
      case 'start':
        this.own.starting(step.containerId);
        return this.engine.start(step.containerId);
      case 'stop':
        return waiting(this.engine.stop(step.containerId, step.graceSeconds));
      case 'rename':
        return this.engine.rename(step.containerId, step.name).then(
          () => this.did(step.containerId, 'rename', { name: step.name }),
          (err: unknown) => void log.warn('rename failed', { error: errorField(err) }),
        );
      case 'forgetProbe':
        return this.prober.forget(step.containerId);
      case 'event':
        return this.event(ref, step.type, step.reason, step.message);
      case 'log':
        return void log[step.level](step.message, step.fields);
    }
  }

  private recordKey(ref: ReplicaRef): string {
    return this.keys.replica(this.lease.node, ref.app, ref.name, ref.replica);
  }

  private event(ref: ReplicaRef, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.events.record(ref.app, ref.name, { type, reason, message, replica: ref.replica, node: this.lease.node });
  }

  /**
   * Pulls the image unless the engine has it, through the host's one pull of it, showing its
   * progress in the replica's record (the coordinator passes it on at most once a second).
   * True if it wrote the record. A failure writes `failed` with the reason and throws; while
   * the registry's credentials have not reached this host it writes `pending`, saying so, and
   * throws CredentialsPending.
   */
  private async pullImage(step: Extract<Step, { kind: 'pull' }>, ref: ReplicaRef, stored: KeyValue | undefined, log: Logger, worker?: WorkerSlot): Promise<boolean> {
    const { image } = step;
    if (this.images.has(image)) return false;
    if (await this.engine.hasImage(image)) {
      this.images.saw(image);
      return false;
    }
    const pending: ReplicaRecord = { ...step.failed, state: 'pending' };
    // Waiting for this host's copy of the credentials is pending, not failed (no event either).
    const waiting = async (err: unknown) => {
      if (err instanceof CredentialsPending) await this.write(stored, { ...pending, message: err.message });
      throw err;
    };
    await this.pulls.ready(image).catch(waiting);
    log.info('pulling image', { image });
    this.event(ref, 'Normal', 'Pulling', `pulling image ${image}`);
    // Writes in order, each after the last; a failed one is logged, the next may succeed.
    let writes = Promise.resolve();
    const show = (p: PullProgress) => {
      const record = { ...pending, message: `pulling ${image} ${formatPullProgress(p)}`, pull: { image, percent: p.total ? Math.floor((100 * p.current) / p.total) : 0, bytes: p.current, total: p.total } };
      writes = writes.then(() => this.write(undefined, record)).catch((err: unknown) => void log.warn('pull progress not written', { error: errorField(err) }));
    };
    show({ current: 0, total: 0 });
    try {
      const pulling = this.pulls.pull(image, show).then(async (pulled) => {
        await writes;
        return pulled;
      });
      const pulled = await (worker ? worker.idle(pulling) : pulling);
      this.images.saw(image);
      log.info('image pulled', { image, bytes: pulled.bytes, durationMs: pulled.durationMs });
      this.event(ref, 'Normal', 'Pulled', `pulled image ${image} (${(pulled.bytes / 1e6).toFixed(1)} MB in ${(pulled.durationMs / 1000).toFixed(1)} s)`);
    } catch (err) {
      await writes;
      if (err instanceof CredentialsPending) return waiting(err);
      const failure = classifyPullError(image, err);
      this.event(ref, 'Warning', 'Failed', failure.message);
      await this.write(undefined, { ...step.failed, message: failure.message });
      throw failure;
    }
    return true;
  }

  /** Creates the container; a stale container of ours holding the name is removed first. */
  private async createOrAdopt(template: ContainerTemplate, log: Logger): Promise<string> {
    let spec = template;
    try {
      // Reads the image (a 404 too if it is gone).
      if (template.launchWithSecretEnv) spec = await this.launching(template);
      return this.made(await this.engine.create(spec), spec);
    } catch (err) {
      // Removed since it was seen: the retry asks the engine again, and pulls.
      if (statusCode(err) === 404) this.images.forget(template.image);
      if (statusCode(err) !== 409) throw err;
      const holder = await this.engine.inspect(template.name);
      const ours = holder?.labels[LABEL.managed] === 'true' && holder.labels[LABEL.node] === template.labels[LABEL.node] &&
        holder.labels[LABEL.cluster] === template.labels[LABEL.cluster] &&
        holder.labels[LABEL.app] === template.labels[LABEL.app] &&
        holder.labels[LABEL.name] === template.labels[LABEL.name] && holder.labels[LABEL.replica] === template.labels[LABEL.replica];
      if (!holder || !ours) throw new Error(`container name ${template.name} is taken by a container this node does not manage`);
      log.info('removing stale container holding the name', { containerId: holder.id });
      await this.engine.remove(holder.id);
      this.did(holder.id, 'destroy');
      return this.made(await this.engine.create(spec), spec);
    }
  }

  /** Stops gracefully (stop signal, then kill after the grace period) and removes. */
  private async removeAll(containers: ContainerSummary[], reason: string, graceSeconds: number, ref: ReplicaRef, log: Logger, waiting: <T>(work: Promise<T>) => Promise<T>): Promise<void> {
    for (const c of containers) {
      this.prober.forget(c.id);
      // The grace period the container was created with, if it says (its spec may be gone).
      const labelled = Number(c.labels[LABEL.stopGrace]);
      await waiting(this.engine.stop(c.id, Number.isFinite(labelled) && c.labels[LABEL.stopGrace] ? labelled : graceSeconds));
      await this.engine.remove(c.id);
      this.did(c.id, 'destroy');
      log.info('container removed', { containerId: c.id, reason });
      this.event(ref, 'Normal', 'Killed', `removed container ${c.name}: ${reason}`);
    }
  }

  /**
   * Tells the container cache what the engine just did at this executor's request, before
   * the engine's event does: which containers exist and their names. Not their state: a
   * start's answer can come after the event of the container's exit, which would be undone.
   */
  private did(id: string, action: string, labels: Record<string, string> = {}): void {
    this.containers.apply({ id, action, labels });
  }

  private made(id: string, spec: CreateSpec): string {
    this.did(id, 'create', { ...spec.labels, name: spec.name });
    return id;
  }

  /** The container made to start through the host's static shell, which exports its env secrets (secret-env.ts). */
  private async launching(template: ContainerTemplate): Promise<ContainerTemplate> {
    await access(HOST_STATIC_SHELL, fsConstants.X_OK).catch(() => {
      throw new Error(`env secrets need a static shell at ${HOST_STATIC_SHELL} on ${this.lease.node} (Debian's busybox-static)`);
    });
    return { ...template, ...launchThroughShell(template, await this.engine.imageCommand(template.image)) };
  }

  /** Writes the replica record under the host's lease, only when it changed. */
  private async write(existing: KeyValue | undefined, record: ReplicaRecord): Promise<void> {
    const value = canonicalJson(record);
    const lease = this.lease.id();
    if (existing && existing.value === value && existing.lease === lease) return;
    const key = this.keys.replica(this.lease.node, record.app, record.name, record.replica);
    const revision = await this.store.putAt(key, value, { lease });
    const at = this.keys.parseReplica(key);
    if (at) this.records.assume({ type: 'put', kv: { key, value, modRevision: revision, lease }, value: { ...record, at } });
  }

  /** Deletes the replica record if still at `modRevision`. */
  private async deleteRecord(key: string, modRevision: number): Promise<void> {
    await this.records.deleteAt(key, modRevision);
  }
}
