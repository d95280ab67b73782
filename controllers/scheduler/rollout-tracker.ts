import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { manifestId, type Keys } from '../../api/keys.js';
import type { UpdateSpec } from '../../api/lifecycle.js';
import type { Forbidden, ImagePin, ReplicaRecord, RevisionRef, RolloutRecord } from '../../api/records.js';
import type { Clock } from '../../src/clock.js';
import { ProgressPacer } from '../../src/controller/progress-pacer.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { manifestReplicas, Resources, type Replica, type Rollout } from '../../src/informer/resources.js';
import type { Cached, SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import type { Placed } from './placement-plan.js';
import { ReadySince } from './ready-since.js';
import { planRollout, type RolloutDecision, type RolloutInput } from './rollout-plan.js';

/** How long a switched replica must stay ready before the next one goes (Swarm's update monitor). */
export const MONITOR_MS = 3_000;

/** The least time between two writes of one rollout record while only its counts change. */
export const ROLLOUT_PROGRESS_INTERVAL_MS = 1_000;

export interface RolloutStep {
  app: string;
  name: string;
  targetHash: string;
  targetRevision: number;
  manifestText: string;
  update: UpdateSpec;
  kept: (Placed & { updatedAt?: number })[];
  resize?: RolloutInput['resize'];
  /** Replicas the placement plan could place nowhere, with why (kept in the record for the status). */
  unschedulable?: { replica: number; reason: string }[];
  /** The target's image pin (ImagePinner). */
  pin?: ImagePin;
}

/**
 * The scheduler's memory of rolling updates: when each switched replica was first seen
 * ready (ReadySince), and the `rollouts/` record with the stable and previous versions for
 * `dokkaa rollback`. Replica records come from the shared `replicas` informer, which the
 * scheduler controller watches (so it is acquired and synced before a reconcile).
 */
@injectable()
export class RolloutTracker {
  private readonly readySince = new ReadySince();
  private readonly pacer: ProgressPacer;
  private readonly replicas: SharedInformer<Replica>;
  /** The records, read from here and kept up to date with this tracker's own writes (assume). */
  private readonly rollouts: SharedInformer<Rollout>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.replicas = factory.informer(Resources.replicas(keys));
    this.rollouts = factory.informer(Resources.rollouts(keys));
    this.pacer = new ProgressPacer(clock, ROLLOUT_PROGRESS_INTERVAL_MS);
  }

  /**
   * One step of the manifest's rolling update, and its record written. `recordDueMs`: the
   * record's progress was held back (see writeRecord); the caller looks again by then.
   */
  async step(step: RolloutStep, log: Logger): Promise<RolloutDecision & { recordDueMs?: number }> {
    const { app, name, targetHash } = step;
    await this.rollouts.synced();
    const current = this.rollouts.get(this.keys.rollout(app, name));
    // Each index's record from the host it is placed on.
    const replicas = new Map<number, ReplicaRecord>();
    const nodeOf = new Map<number, string>();
    for (const p of step.kept) if (!nodeOf.has(p.replica)) nodeOf.set(p.replica, p.node);
    for (const r of manifestReplicas(this.replicas, app, name)) {
      if (r.node === nodeOf.get(r.replica)) replicas.set(r.replica, r);
    }
    const now = this.clock.now();
    for (const [i, r] of replicas) {
      this.readySince.see(`${app}/${name}/${i}/${targetHash}`, r.templateHash === targetHash && r.state === 'running' && r.ready, now);
    }
    const decision = planRollout({
      targetHash,
      update: step.update,
      kept: step.kept,
      replicas,
      now,
      readySince: (i) => this.readySince.get(`${app}/${name}/${i}/${targetHash}`),
      monitorMs: MONITOR_MS,
      ...(step.resize ? { resize: step.resize } : {}),
    });
    const recordDueMs = await this.writeRecord(step, current, decision, log);
    return recordDueMs === undefined ? decision : { ...decision, recordDueMs };
  }

  /**
   * Records why the spec of template hash `baseHash` could not be pinned (the status shows
   * it); the rollout itself stays as it was. With no rollout yet, a record for the revision.
   */
  async notePinError(app: string, name: string, baseHash: string, message: string, revision: number): Promise<void> {
    await this.note(app, name, baseHash, revision, message, (r) => ({ ...r, pinError: { baseHash, message } }));
  }

  /**
   * Records that the manifest's revision breaks the cluster policy (the status shows it as
   * Forbidden); the rollout itself stays as it was. Logged and told as an event when the verdict changes.
   */
  async noteForbidden(app: string, name: string, baseHash: string, forbidden: Forbidden, log: Logger): Promise<void> {
    const changed = await this.note(app, name, baseHash, forbidden.revision, 'forbidden by the cluster policy', (r) => ({ ...r, forbidden }));
    if (!changed) return;
    const first = forbidden.violations[0]!;
    log.warn('manifest forbidden by the cluster policy; keeping the last admitted version', { revision: forbidden.revision, rule: first.rule, detail: first.message, rules: forbidden.violations.length });
    void this.events.record(app, name, { type: 'Warning', reason: 'Forbidden', message: `revision ${forbidden.revision}: ${first.rule}: ${first.message}` });
  }

  /** Changes the rollout record by `change` (creating one for `revision` if there is none); whether it wrote. */
  private async note(app: string, name: string, baseHash: string, revision: number, message: string, change: (r: RolloutRecord) => RolloutRecord): Promise<boolean> {
    await this.rollouts.synced();
    const cached = this.rollouts.get(this.keys.rollout(app, name));
    // Each note says all there is to say about the revision: an older verdict of the other kind goes.
    const { pinError: _pinError, forbidden: _forbidden, ...rest } = recordOf(cached) ?? {
      phase: 'Progressing' as const, targetHash: baseHash, targetRevision: revision, message, updated: 0, ready: 0, total: 0, startedAt: new Date(this.clock.now()).toISOString(),
    };
    const record = change(rest);
    const value = canonicalJson(record);
    if (value === cached?.value.text) return false;
    await this.put(app, name, record, value, cached);
    return true;
  }

  /**
   * Forgets a deleted manifest. Its record is deleted only if the informer holds one: every
   * placement removed after the manifest's delete reconciles it again, and each would
   * otherwise delete once more.
   */
  async forget(app: string, name: string): Promise<void> {
    this.readySince.forgetManifest(manifestId(app, name));
    this.pacer.forget(manifestId(app, name));
    await this.rollouts.synced();
    const key = this.keys.rollout(app, name);
    const read = this.rollouts.get(key);
    if (!read) return;
    if (!(await this.rollouts.deleteAt(key, read.modRevision))) throw changedMeanwhile(key);
  }

  /**
   * Writes the record if it is still the one read (else throws: the reconcile is retried on
   * fresh state), and applies the write to the informer so that the next step reads it.
   * `value` is the record's canonical JSON, which the caller compared with the one read.
   */
  private async put(app: string, name: string, record: RolloutRecord, value: string, read: Cached<Rollout> | undefined): Promise<void> {
    const key = this.keys.rollout(app, name);
    const revision = await this.store.txnAt([{ key, modRevision: read?.modRevision ?? 0 }], [{ type: 'put', key, value }]);
    if (revision === undefined) throw changedMeanwhile(key);
    this.rollouts.assume({ type: 'put', kv: { key, value, modRevision: revision, lease: '0' }, value: { ...record, at: { app, name }, text: value } });
  }

  /**
   * Writes the rollout record when it changed. Its counts (updated, ready) change with every
   * replica that becomes ready, and each write went to etcd with the manifest's text and
   * queued the manifest's status again: about one write per two replicas of a first
   * deployment. Only the counts changing, it is written at most once a second per manifest
   * (what no reader waits on: `dokkaa rollout status` shows them); anything else (a phase,
   * a target, the versions, the reasons) at once. Returns the delay of a held-back write.
   */
  private async writeRecord(step: RolloutStep, cached: Cached<Rollout> | undefined, d: RolloutDecision, log: Logger): Promise<number | undefined> {
    const current = recordOf(cached);
    const target: RevisionRef = { templateHash: step.targetHash, revision: step.targetRevision, manifest: step.manifestText };
    const newTarget = current?.targetHash !== step.targetHash;
    const complete = d.done && !d.stalled;
    let stable = current?.stable;
    let previous = current?.previous;
    if (newTarget) {
      // Back to the last version that completed, else to the one being rolled out until now.
      const before = stable && stable.templateHash !== step.targetHash ? stable : current?.target;
      if (before && before.templateHash !== step.targetHash) previous = before;
    }
    if (complete) stable = target;
    const phase: RolloutRecord['phase'] = d.stalled ? 'Stalled' : complete ? 'Complete' : 'Progressing';
    const record: RolloutRecord = {
      phase,
      targetHash: step.targetHash,
      targetRevision: step.targetRevision,
      message: d.stalled
        ? `rollout stalled: ${d.stalled.reason}; ${d.total - d.updated} replica(s) keep the previous spec`
        : complete ? `${d.total} replica(s) run revision ${step.targetRevision}` : `${d.updated}/${d.total} updated, ${d.ready} ready`,
      updated: d.updated,
      ready: d.ready,
      total: d.total,
      startedAt: newTarget || !current ? new Date(this.clock.now()).toISOString() : current.startedAt,
      target,
      ...(stable ? { stable } : {}),
      ...(previous ? { previous } : {}),
      ...(step.unschedulable?.length ? { unschedulable: byReason(step.unschedulable) } : {}),
      ...(step.pin ? { pin: step.pin } : {}),
    };
    const value = canonicalJson(record);
    if (value === cached?.value.text) return undefined;
    const id = manifestId(step.app, step.name);
    const delayMs = this.pacer.delayMs(id, !current || !onlyCountsDiffer(current, record));
    if (delayMs > 0) return delayMs;
    await this.put(step.app, step.name, record, value, cached);
    this.pacer.wrote(id);
    if (current?.phase !== phase || newTarget) {
      log.info('rollout', { phase, detail: record.message });
      if (phase === 'Stalled') void this.events.record(step.app, step.name, { type: 'Warning', reason: 'RolloutStalled', message: record.message });
      if (phase === 'Complete' && current) void this.events.record(step.app, step.name, { type: 'Normal', reason: 'RolloutComplete', message: record.message });
    }
  }
}

/** Unschedulable replicas grouped by reason: thousands of replicas short of room share one. */
function byReason(list: { replica: number; reason: string }[]): NonNullable<RolloutRecord['unschedulable']> {
  const groups = new Map<string, number[]>();
  for (const u of list) {
    const g = groups.get(u.reason);
    if (g) g.push(u.replica);
    else groups.set(u.reason, [u.replica]);
  }
  return [...groups].map(([reason, replicas]) => ({ reason, replicas }));
}

function changedMeanwhile(key: string): Error {
  return new Error(`rollout record ${key} changed meanwhile; retrying with fresh state`);
}

/** Whether two records differ in their progress counts (and the message that states them) only. */
function onlyCountsDiffer(a: RolloutRecord, b: RolloutRecord): boolean {
  const rest = ({ updated: _u, ready: _r, message: _m, ...r }: RolloutRecord) => canonicalJson(r);
  return rest(a) === rest(b);
}

/** The record of a cached rollout, without what the informer adds. */
function recordOf(cached: Cached<Rollout> | undefined): RolloutRecord | undefined {
  if (!cached) return undefined;
  const { at: _at, text: _text, ...record } = cached.value;
  return record;
}
