import { inject, injectable } from 'inversify';
import { parseReplicaId, type Keys } from '../../api/keys.js';
import { configsUsed, secretsUsed } from '../../api/manifest.js';
import { ConfigRecord, decodeRecord, type PlacementRecord, SealedCopyRecord } from '../../api/records.js';
import { HostCaches } from '../../src/agent/host-caches.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { SealingKey } from '../../src/agent/sealing-key.js';
import type { Clock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import type { ReconcileResult, Reconciler } from '../../src/controller/controller.js';
import type { WorkerSlot } from '../../src/queue/work-queue.js';
import type { ContainerDetails, ContainerEngine } from '../../src/docker/container-engine.js';
import { CredentialsPending } from '../../src/docker/pull-errors.js';
import type { KeyValue, KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, withoutAt, type Link } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, invalidRecord, type Logger } from '../../src/logging.js';
import { linkEnv } from '../../api/link-env.js';
import { ContainerCache } from './container-cache.js';
import type { HeldFiles } from './file-plan.js';
import { HealthProber, type HealthState } from './health-prober.js';
import { SecretFileStore } from './secret-file-store.js';
import { ReplicaExecutor, storedRecord, type ReplicaRef } from './replica-executor.js';
import { planContainers, planHealth, planRestart, planServing, replicaRecord, unseenExit, type Kept, type ReplicaInput, type Step } from './replica-plan.js';

/** How soon a replica waiting for its registry's credentials looks again, if no event comes first. */
const CREDENTIALS_RETRY_MS = 5_000;

/** Lines of a crashed container's output kept in its replica record. */
const LAST_LOG_LINES = 5;

/**
 * Makes one replica (`app/name/replica`) on this host match its placement: creates,
 * adopts, replaces, restarts (with crash-loop backoff) or removes its container, and
 * writes what it observes to `node-replicas/<node>/`, under the host's lease. It reads; the planner
 * (replica-plan.ts) decides; the executor acts. Each stage of the plan decides on what
 * the engine reports after the stage before, so the kept container is inspected again
 * after each stage that started, stopped or renamed it.
 *
 * The placement and the record are read from the agent's informers of this host's
 * placements and records (HostCaches), not from etcd; the controller has both synced before
 * it reconciles, and a reconcile waits for HostCaches.ready. Only this host writes its
 * records, and the executor applies each write to that cache as soon as etcd committed it,
 * so a reconcile sees the last one. The replica's containers come from the engine's side of
 * the same pattern (ContainerCache), which the executor also tells what it did. The link
 * resolution comes from the agent's links informer (a change of it queues the manifest's
 * replicas here, after the cache has it).
 */
@injectable()
export class NodeRunnerReconciler implements Reconciler {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.ContainerEngine) private readonly engine: ContainerEngine,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(HealthProber) private readonly prober: HealthProber,
    @inject(ReplicaExecutor) private readonly executor: ReplicaExecutor,
    @inject(TYPES.Config) private readonly config: Pick<Config, 'allowHostPaths'>,
    @inject(SecretFileStore) private readonly files: SecretFileStore,
    @inject(SealingKey) private readonly sealingKey: SealingKey,
    @inject(HostCaches) private readonly caches: HostCaches,
    @inject(ContainerCache) private readonly containers: ContainerCache,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.links = factory.informer(Resources.links(keys));
  }

  /** The link resolutions (the controller watches them: a change queues the manifest's replicas here). */
  private readonly links: SharedInformer<Link>;

  async reconcile(id: string, log: Logger, worker?: WorkerSlot): Promise<ReconcileResult> {
    const ref = parseReplicaId(id);
    await this.caches.ready();
    const { input, recordKv } = await this.observe(ref, log);
    const run = this.executor.begin(ref, recordKv, log, worker);
    const plan = planContainers(input);
    let created: string | undefined;
    try {
      created = await run(plan.steps);
    } catch (err) {
      // The executor wrote `pending`; the copy's arrival enqueues this replica, the delay is a fallback.
      if (err instanceof CredentialsPending) return { requeueAfterMs: CREDENTIALS_RETRY_MS };
      throw err;
    }
    if (!plan.kept) return;

    // No id yet means the create step made the container.
    let kept: Kept = { ...plan.kept, containerId: plan.kept.containerId ?? created! };
    let details = await this.engine.inspect(kept.containerId);
    if (!details) {
      // Gone without the event saying so (a torn event line): the retry must not find it in the cache.
      this.containers.apply({ id: kept.containerId, action: 'destroy', labels: {} });
      throw new Error('container vanished while reconciling');
    }
    const lastLines = unseenExit(kept, details) ? await this.lastLines(kept.containerId) : undefined;
    const restart = planRestart(kept, details, lastLines, this.clock.now());
    kept = restart.kept;
    await run(restart.steps);
    if (touches(restart.steps)) details = await this.reinspect(details);

    let health = this.healthOf(id, details, kept);
    const heal = planHealth(kept, details, health);
    kept = heal.kept;
    await run(heal.steps);
    if (touches(heal.steps)) {
      details = await this.reinspect(details);
      health = this.healthOf(id, details, kept);
    }

    const serve = planServing(kept, details, health);
    kept = serve.kept;
    await run(serve.steps);
    if (touches(serve.steps)) details = await this.reinspect(details);
    await run([{ kind: 'writeRecord', record: replicaRecord(kept, details) }]);
    return kept.requeueAfterMs === undefined ? undefined : { requeueAfterMs: kept.requeueAfterMs };
  }

  /** Reads both sides from the caches: the placement, the record, the containers and (with links) the link resolution. */
  private async observe({ app, name, replica }: ReplicaRef, log: Logger): Promise<{ input: ReplicaInput; recordKv: KeyValue | undefined }> {
    const node = this.lease.node;
    const containers = this.containers.ofReplica(app, name, replica);
    const placed = this.caches.placements.get(this.keys.placement(node, app, name, replica));
    const cached = this.caches.records.get(this.keys.replica(node, app, name, replica));
    const placement: PlacementRecord | undefined = placed && withoutAt(placed.value);
    const input: ReplicaInput = {
      app, name, replica,
      host: { node, address: this.lease.address(), resolver: this.lease.containerResolver(), cluster: this.keys.root, allowHostPaths: this.config.allowHostPaths ?? [] },
      placement,
      record: cached && { value: withoutAt(cached.value), modRevision: cached.modRevision },
      containers,
    };
    if (placement && placement.spec.links.length > 0) {
      const link = this.links.get(this.keys.link(app, name))?.value;
      // The env points at this host's ambassador, so it does not change when a linked service moves.
      if (link?.links) input.links = { env: linkEnv(link.links, this.lease.containerGateway()), missing: link.missing };
    }
    if (placement && (secretsUsed(placement.spec).length || configsUsed(placement.spec).length)) input.files = await this.held({ app, name, replica }, placement, log);
    if (!placement) input.hasFiles = await this.files.has({ app, name, replica });
    return { input, recordKv: storedRecord(cached) };
  }

  /**
   * The placement's secrets (this node's sealed copies, opened with its own key) and configs,
   * each only at the version its spec names or newer (the secrets controller may not have
   * caught up yet). A copy that does not open counts as absent: it is sealed to an old key
   * and the controller seals it again.
   */
  private async held(ref: ReplicaRef, placement: PlacementRecord, log: Logger): Promise<HeldFiles> {
    const { spec, app } = placement;
    const node = this.lease.node;
    const held: HeldFiles = { dir: this.files.dirOf(ref), secrets: {}, configs: {} };
    await Promise.all([
      ...secretsUsed(spec).map(async (s) => {
        const key = this.keys.sealedCopy(node, app, s);
        const copy = decodeRecord(SealedCopyRecord, (await this.store.get(key))?.value, invalidRecord(log, key));
        if (!copy || copy.version < (spec.secretVersions?.[s] ?? 0)) return;
        try {
          held.secrets[s] = this.sealingKey.open(copy.sealed);
        } catch (err) {
          log.warn('sealed copy does not open with this node\'s key', { secret: s, error: errorField(err) });
        }
      }),
      ...configsUsed(spec).map(async (c) => {
        const key = this.keys.config(app, c);
        const kv = await this.store.get(key);
        const config = decodeRecord(ConfigRecord, kv?.value, invalidRecord(log, key));
        // Its version is its mod revision (controllers/scheduler/file-versions.ts).
        if (config && kv!.modRevision >= (spec.configVersions?.[c] ?? 0)) held.configs[c] = Buffer.from(config.data, 'base64');
      }),
    ]);
    return held;
  }

  private async reinspect(details: ContainerDetails): Promise<ContainerDetails> {
    return (await this.engine.inspect(details.id)) ?? details;
  }

  /**
   * The health verdict on a running container with a check: Docker's for command checks,
   * the agent's prober's (which starts probing it) for TCP/HTTP ones.
   */
  private healthOf(key: string, details: ContainerDetails, kept: Kept): HealthState | undefined {
    const health = kept.placement.spec.health;
    if (!details.running || !health) return undefined;
    if (health.kind === 'cmd') {
      const status = details.health ?? 'starting';
      return { status, failures: status === 'unhealthy' ? health.retries : 0 };
    }
    if (!details.ip) return { status: 'starting', failures: 0, lastError: 'container has no address yet' };
    return this.prober.observe(key, details.id, health, details.ip);
  }

  private async lastLines(containerId: string): Promise<string[]> {
    try {
      const text = await this.engine.logs(containerId, LAST_LOG_LINES);
      return text.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(-LAST_LOG_LINES);
    } catch {
      return [];
    }
  }
}

/** Steps after which the kept container must be inspected again: they changed its state or name. */
function touches(steps: Step[]): boolean {
  return steps.some((s) => s.kind === 'start' || s.kind === 'stop' || s.kind === 'rename');
}
