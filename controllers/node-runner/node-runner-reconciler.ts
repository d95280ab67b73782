import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseReplicaId, type Keys } from '../../api/keys.js';
import { decodeRecord, LinkRecord, PlacementRecord, ReplicaRecord } from '../../api/records.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { sleep, type Clock } from '../../src/clock.js';
import type { ReconcileResult, Reconciler } from '../../src/controller/controller.js';
import type { ContainerEngine, ContainerSummary } from '../../src/docker/container-engine.js';
import type { KeyValue, KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, invalidRecord, type Logger } from '../../src/logging.js';
import { linkEnv } from '../../api/link-env.js';
import { containerDns, containerTemplate, LABEL } from './container-template.js';
import { nextCrashCount, restartDelayMs, shouldRestart } from './restart-backoff.js';
import { HealthProber, type HealthState } from './health-prober.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import type { ContainerDetails } from '../../src/docker/container-engine.js';

/** Seconds between the stop signal and the kill, for a container without a stop-grace label. */
const DEFAULT_STOP_GRACE_SECONDS = 10;
/** How long endpoints get to drop a replica before its container is stopped. */
const DRAIN_MS = 1_000;
/** Lines of a crashed container's output kept in its replica record. */
const LAST_LOG_LINES = 5;

/**
 * Makes one replica (`app/name/replica`) on this host match its placement: creates,
 * adopts, replaces, restarts (with crash-loop backoff) or removes its container, and
 * writes what it observes to `replicas/`, under the host's lease.
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
    @inject(EventRecorder) private readonly events: EventRecorder,
  ) {}

  async reconcile(id: string, log: Logger): Promise<ReconcileResult> {
    const { app, name, replica } = parseReplicaId(id);
    const node = this.lease.node;
    let [placementKv, recordKv, containers] = await Promise.all([
      this.store.get(this.keys.placement(node, app, name, replica)),
      this.store.get(this.keys.replica(app, name, replica)),
      this.engine.list({ [LABEL.managed]: 'true', [LABEL.cluster]: this.keys.root, [LABEL.node]: node, [LABEL.app]: app, [LABEL.name]: name, [LABEL.replica]: String(replica) }),
    ]);
    const previous = decodeRecord(ReplicaRecord, recordKv?.value, invalidRecord(log, this.keys.replica(app, name, replica)));
    const mine = previous?.node === node ? previous : undefined;
    const placement = decodeRecord(PlacementRecord, placementKv?.value, invalidRecord(log, this.keys.placement(node, app, name, replica)));

    if (!placement) {
      await this.removeAll(containers, log, 'no longer placed here', DEFAULT_STOP_GRACE_SECONDS, { app, name, replica });
      if (recordKv && mine) await this.store.deleteIfModRevision(recordKv.key, recordKv.modRevision);
      return;
    }

    const base = {
      app, name, replica, node,
      address: this.lease.address(),
      containerName: `${app}---${name}---${replica}`,
      revision: placement.revision,
      templateHash: placement.templateHash,
      ports: {},
      ready: false,
    };
    const grace = placement.spec.stopGracePeriodMs / 1000;
    const where = { app, name, replica };

    // Links: nothing new starts until every link is resolved; what runs stays. The env points
    // at this host's ambassador, so it does not change when a linked service moves.
    let linkEnvVars: Record<string, string> = {};
    let waitingFor: string[] = [];
    if (placement.spec.links.length > 0) {
      const link = decodeRecord(LinkRecord, (await this.store.get(this.keys.link(app, name)))?.value, invalidRecord(log, this.keys.link(app, name)));
      // A record without `links` predates the ambassador: wait for the link injector to rewrite it.
      waitingFor = link?.links ? link.missing : placement.spec.links.map((l) => `${l.app}/${l.service}`);
      linkEnvVars = link?.links ? linkEnv(link.links, this.lease.containerGateway()) : {};
    }
    const template = containerTemplate(placement, linkEnvVars, node, containerDns(this.lease.containerResolver(), app), this.keys.root);
    const current = containers.find((c) => c.labels[LABEL.hash] === template.hash) ?? (waitingFor.length ? newest(containers) : undefined);
    const outdated = containers.filter((c) => c !== current);
    // start-first: an old running container keeps serving until the new one is ready.
    let serving = placement.spec.update.order === 'start-first' && !waitingFor.length ? outdated.find((c) => c.state === 'running') : undefined;
    if (outdated.length > 0 && !serving && mine?.ready) {
      // stop-first: take the replica out of its endpoints before stopping it.
      await this.write(recordKv, { ...mine, ready: false, message: 'stopping for an update' });
      await sleep(this.clock, DRAIN_MS);
    }
    await this.removeAll(outdated.filter((c) => c !== serving), log, 'spec changed', grace, where);

    if (!current && waitingFor.length) {
      await this.write(recordKv, {
        ...base, state: 'pending', containerName: template.name, restarts: 0, crashes: 0,
        message: `waiting for linked service(s) with no endpoint yet: ${waitingFor.join(', ')}`,
      });
      return;
    }

    let containerId = current?.id;
    let restarts = mine && mine.containerId === containerId ? mine.restarts : 0;
    let crashes = mine && mine.containerId === containerId ? mine.crashes : 0;
    if (!containerId) {
      try {
        if (await this.ensureImage(template.image, log)) {
          void this.events.record(app, name, { type: 'Normal', reason: 'Pulled', message: `pulled image ${template.image}`, replica, node });
        }
      } catch (err) {
        await this.write(recordKv, {
          ...base, state: 'failed', containerName: template.name, restarts: 0, crashes: 0,
          message: `image ${template.image}: ${errorField(err).message}`,
        });
        throw err;
      }
      containerId = await this.createOrAdopt(serving ? { ...template, name: `${template.name}-${template.hash}` } : template, log);
      await this.engine.start(containerId);
      restarts = 0;
      crashes = 0;
      log.info('container started', { containerId, image: template.image });
      void this.events.record(app, name, { type: 'Normal', reason: 'Started', message: `started container ${template.name} (${template.image})`, replica, node });
    }

    let details = await this.engine.inspect(containerId);
    if (!details) throw new Error('container vanished while reconciling');
    let requeue: ReconcileResult = undefined;
    // The exit last counted towards `crashes`: an exit is counted once, however often we look.
    let countedExit = mine && mine.containerId === containerId ? mine.finishedAt : undefined;
    let lastLog = mine && mine.containerId === containerId ? mine.lastLog : undefined;
    if (!details.running && details.state !== 'created' && countedExit !== details.finishedAt) {
      lastLog = await this.lastLines(containerId); // a new exit: keep what it said last
    }
    if (!details.running && details.state !== 'created' && shouldRestart(placement.spec.restart, details.exitCode)) {
      if (countedExit !== details.finishedAt) {
        crashes = nextCrashCount(crashes, runMs(details.startedAt, details.finishedAt));
        countedExit = details.finishedAt;
        void this.events.record(app, name, { type: 'Warning', reason: 'BackOff', message: `container exited with code ${details.exitCode}; restart ${restarts + 1} after ${restartDelayMs(crashes) / 1000} s`, replica, node });
      }
      const waitMs = restartDelayMs(crashes) - (this.clock.now() - Date.parse(details.finishedAt ?? '0'));
      if (waitMs > 0) {
        requeue = { requeueAfterMs: waitMs };
      } else {
        await this.engine.start(containerId);
        restarts += 1;
        log.info('container restarted', { containerId, exitCode: details.exitCode, restarts, crashes });
        details = (await this.engine.inspect(containerId)) ?? details;
      }
    } else if (details.state === 'created') {
      await this.engine.start(containerId);
      details = (await this.engine.inspect(containerId)) ?? details;
    }

    // Health: only a passing container is ready (registered); a failing one is restarted.
    let health: HealthState | undefined;
    if (details.running && placement.spec.health) {
      health = this.healthOf(id, details, placement);
      if (health.status === 'unhealthy') {
        log.warn('container unhealthy; restarting', { containerId, error: health.lastError });
        void this.events.record(app, name, { type: 'Warning', reason: 'Unhealthy', message: `health check failed ${health.failures} times: ${health.lastError ?? ''}; restarting`, replica, node });
        this.prober.forget(containerId);
        // Out of the endpoints first, so no new request reaches it while it restarts.
        if (mine?.ready) {
          await this.write(recordKv, { ...mine, ready: false, message: `unhealthy (${health.lastError ?? 'check failed'}); restarting` });
          await sleep(this.clock, DRAIN_MS);
        }
        await this.engine.stop(containerId, grace);
        await this.engine.start(containerId);
        restarts += 1;
        details = (await this.engine.inspect(containerId)) ?? details;
        health = details.running ? this.healthOf(id, details, placement) : undefined;
      }
    } else if (!details.running) {
      this.prober.forget(containerId);
    }
    const ready = details.running && (!placement.spec.health || health?.status === 'healthy');

    const backingOff = requeue !== undefined;
    const observed = (d: ContainerDetails): ReplicaRecord => ({
      ...base,
      templateHash: placement.templateHash,
      containerName: d.name,
      containerId,
      state: d.running ? 'running' : backingOff ? 'CrashLoopBackOff' : 'exited',
      restarts,
      crashes,
      ...(d.running ? {} : { exitCode: d.exitCode }),
      ...(d.startedAt ? { startedAt: d.startedAt } : {}),
      ...(countedExit ? { finishedAt: countedExit } : !d.running && d.finishedAt ? { finishedAt: d.finishedAt } : {}),
      ports: d.running ? this.publishedPorts(placement, d) : {},
      ready,
      ...(health ? { health } : {}),
      ...(lastLog?.length ? { lastLog } : {}),
      ...(backingOff ? { message: `back-off restarting crashed container (exit code ${d.exitCode})` } : {}),
      ...(waitingFor.length ? { message: `kept running; waiting for linked service(s): ${waitingFor.join(', ')}` } : {}),
    });

    let servingRecord: ReplicaRecord['serving'];
    if (serving && ready) {
      // The new container is ready: move the endpoints to it, let them drain, retire the old one.
      await this.write(recordKv, observed(details));
      await sleep(this.clock, DRAIN_MS);
      await this.removeAll([serving], log, 'replaced by a ready container (start-first)', grace, where);
      serving = undefined;
      recordKv = await this.store.get(this.keys.replica(app, name, replica));
    } else if (serving) {
      servingRecord = mine?.containerId === serving.id ? { containerId: serving.id, ports: mine.ports } : mine?.serving;
    }
    if (!serving && details.name !== template.name && containers.every((c) => c.id === containerId || c === serving)) {
      // A start-first container keeps a temporary name until the old one is gone.
      await this.engine.rename(containerId, template.name).catch((err: unknown) => log.warn('rename failed', { error: errorField(err) }));
      details = (await this.engine.inspect(containerId)) ?? details;
    }
    await this.write(recordKv, { ...observed(details), ...(servingRecord ? { serving: servingRecord, message: 'updating: the previous container serves until this one is ready' } : {}) });
    return requeue;
  }

  private publishedPorts(placement: PlacementRecord, details: ContainerDetails): ReplicaRecord['ports'] {
    const ports: ReplicaRecord['ports'] = {};
    for (const [svc, decl] of Object.entries(placement.spec.services)) {
      const hostPort = details.hostPorts[`${decl.port}/${decl.protocol}`];
      if (hostPort) ports[svc] = { containerPort: decl.port, hostPort, protocol: decl.protocol };
    }
    return ports;
  }

  /** Pulls the image unless the engine has it; true if it pulled. */
  private async ensureImage(image: string, log: Logger): Promise<boolean> {
    if (await this.engine.hasImage(image)) return false;
    log.info('pulling image', { image });
    await this.engine.pull(image);
    return true;
  }

  /** Creates the container; a stale container of ours holding the name is removed first. */
  private async createOrAdopt(template: ReturnType<typeof containerTemplate>, log: Logger): Promise<string> {
    try {
      return await this.engine.create(template);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
      const holder = await this.engine.inspect(template.name);
      const ours = holder?.labels[LABEL.managed] === 'true' && holder.labels[LABEL.node] === template.labels[LABEL.node] &&
        holder.labels[LABEL.cluster] === template.labels[LABEL.cluster] &&
        holder.labels[LABEL.app] === template.labels[LABEL.app] &&
        holder.labels[LABEL.name] === template.labels[LABEL.name] && holder.labels[LABEL.replica] === template.labels[LABEL.replica];
      if (!holder || !ours) throw new Error(`container name ${template.name} is taken by a container this node does not manage`);
      log.info('removing stale container holding the name', { containerId: holder.id });
      await this.engine.remove(holder.id);
      return this.engine.create(template);
    }
  }

  /** Stops gracefully (stop signal, then kill after `graceSeconds`) and removes. */
  private async removeAll(containers: ContainerSummary[], log: Logger, reason: string, graceSeconds: number, where: { app: string; name: string; replica: number }): Promise<void> {
    for (const c of containers) {
      this.prober.forget(c.id);
      // The grace period the container was created with, if it says (its spec may be gone).
      const labelled = Number(c.labels[LABEL.stopGrace]);
      await this.engine.stop(c.id, Number.isFinite(labelled) && c.labels[LABEL.stopGrace] ? labelled : graceSeconds);
      await this.engine.remove(c.id);
      log.info('container removed', { containerId: c.id, reason });
      void this.events.record(where.app, where.name, { type: 'Normal', reason: 'Killed', message: `removed container ${c.name}: ${reason}`, replica: where.replica, node: this.lease.node });
    }
  }

  /** Docker's verdict for command checks; the agent's prober for TCP/HTTP ones. */
  private healthOf(key: string, details: ContainerDetails, placement: PlacementRecord): HealthState {
    const health = placement.spec.health!;
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

  /** Writes the replica record under the host's lease, only when it changed. */
  private async write(existing: KeyValue | undefined, record: ReplicaRecord): Promise<void> {
    const value = canonicalJson(record);
    const lease = this.lease.id();
    if (existing && existing.value === value && existing.lease === lease) return;
    await this.store.put(this.keys.replica(record.app, record.name, record.replica), value, { lease });
  }
}

function newest(containers: ContainerSummary[]): ContainerSummary | undefined {
  return containers[0];
}

function runMs(startedAt?: string, finishedAt?: string): number {
  const ms = Date.parse(finishedAt ?? '') - Date.parse(startedAt ?? '');
  return Number.isFinite(ms) ? ms : 0;
}
