import type { ManifestSpec, DecodeResult } from '../../api/manifest.js';
import { configsUsed, secretsUsed, templateHash } from '../../api/manifest.js';
import { violationText } from '../../api/admission.js';
import { TROUBLED_STATES, type Forbidden, type LinkRecord, type NodeRecord, type PlacementRecord, type ReplicaRecord, type ReplicaStatus, type RolloutRecord, type StatusRecord } from '../../api/records.js';
import { matchesConstraints } from '../../api/constraints.js';
import { indicesFor, standingIndices } from '../../src/placement/replica-indices.js';
import { pinErrorOf, pinnedSpecOf, runImageOf } from '../../api/image-pins.js';

export type Placed = Pick<PlacementRecord, 'replica' | 'node' | 'templateHash' | 'revision' | 'replaces'> & { spec?: ManifestSpec };

export interface StatusInput {
  decoded: DecodeResult;
  revision: number;
  /** The manifest's placements; `spec` matters only on the newest (an invalid manifest's running spec). */
  placements: Placed[];
  replicas: ReplicaRecord[];
  link: LinkRecord | undefined;
  liveNodes: NodeRecord[];
  /** Nodes that take no new placements (a global manifest wants no replica there unless one runs). */
  cordoned?: ReadonlySet<string>;
  rollout?: RolloutRecord | undefined;
  /** Host names the manifest's web services claim but an earlier manifest holds (api/routes.ts conflictMessages). */
  routeConflicts?: readonly string[];
}

/**
 * The truth about one manifest, from what the scheduler placed and what the hosts report.
 * Pure. A replica counts as running if it is ready and its host runs the spec it is placed
 * with (during a rolling update, old and new alike); `updated` counts those on the new spec.
 * A host name lost to another manifest is a warning: the replicas and the service's other
 * names are fine, so the phase stays; the message ends with the first conflict (the table
 * of `dokkaa status` shows only phase and message) and `errors` holds them all.
 */
export function summarize(input: StatusInput): StatusRecord {
  const status = replicaSummary(input);
  const conflicts = input.routeConflicts ?? [];
  if (!input.decoded.ok || conflicts.length === 0) return status;
  const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more: see errors or dokkaa describe)` : '';
  return { ...status, message: `${status.message}; warning: ${conflicts[0]}${more}`, errors: [...conflicts] };
}

function replicaSummary(input: StatusInput): StatusRecord {
  const { decoded, placements, replicas } = input;
  const lastPlaced = placements.reduce<Placed | undefined>((a, p) => (!a || p.revision > a.revision ? p : a), undefined);
  const forbidden = forbiddenOf(input);
  // Admitted: the manifest's spec; invalid or forbidden, the last one placed keeps running.
  const admitted = decoded.ok && !forbidden ? decoded.spec : undefined;
  // The scheduler's pin of the current spec's image (a digest, a restart) is part of its hash.
  const spec: ManifestSpec | undefined = admitted ? pinnedSpecOf(admitted, input.rollout) : lastPlaced?.spec;
  const global = spec?.mode === 'global';
  const desired = global ? globalDesired(spec, input) : admitted ? admitted.scale : placements.length;
  // With secrets or configs the hash covers their versions, which the scheduler reads: its rollout's target is the hash.
  const hash = !spec ? undefined : admitted && (secretsUsed(spec).length || configsUsed(spec).length) ? input.rollout?.targetHash : templateHash(spec);
  // The scheduler's reasons for replicas it can place nowhere (resources, cordons, maxPerNode).
  const unschedulable = new Map<number, string>();
  for (const u of input.rollout?.unschedulable ?? []) for (const i of u.replicas) unschedulable.set(i, u.reason);

  const rows: ReplicaStatus[] = [];
  let running = 0;
  let updated = 0;
  const counted = new Set<number>(); // replicas counted as running
  let troubled = 0;
  // By index once, not a search per row: a manifest of n replicas would cost n^2 per reconcile.
  const placedAt = firstBy(placements, (x) => x.replica);
  const reportedAt = firstBy(replicas, (x) => replicaOn(x.replica, x.node));
  for (const i of global ? globalIndices(placements, unschedulable, desired) : replicatedIndices(placements, unschedulable, desired)) {
    const p = placedAt.get(i);
    if (!p) {
      const known = unschedulable.get(i);
      const reason = known !== undefined
        ? `unschedulable: ${known}`
        : spec && !input.liveNodes.some((n) => matchesConstraints(n, spec.constraints))
          ? input.liveNodes.length === 0 ? 'unschedulable: no live nodes' : `unschedulable: no live node matches constraints ${JSON.stringify(spec.constraints)}`
          : 'waiting for the scheduler';
      rows.push({ replica: i, node: '', state: 'unscheduled', restarts: 0, ports: {}, message: reason });
      continue;
    }
    const r = reportedAt.get(replicaOn(i, p.node));
    if (!r) {
      // Kept on a host that is gone (waiting for the node that holds its volumes, say): the scheduler says why.
      rows.push({ replica: i, node: p.node, state: 'pending', restarts: 0, ports: {}, message: unschedulable.get(i) ?? 'waiting for the host to report' });
      continue;
    }
    const current = r.templateHash === p.templateHash;
    // Running means ready: running and, with a health check, passing it.
    if (((r.state === 'running' && r.ready) || r.serving) && current) {
      running++;
      counted.add(i);
      if (p.templateHash === hash && !r.serving) updated++;
    }
    if (TROUBLED_STATES.includes(r.state)) troubled++;
    rows.push({
      replica: i,
      node: r.node,
      state: r.state,
      ...(r.containerId ? { containerId: r.containerId } : {}),
      ready: r.ready,
      restarts: r.restarts,
      ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
      ...(r.lastLog?.length ? { lastLog: r.lastLog } : {}),
      ...(r.lastTermination ? { lastTermination: r.lastTermination } : {}),
      ports: Object.fromEntries(Object.entries(r.ports).map(([svc, port]) => [svc, port.hostPort])),
      ...(r.message ? { message: r.message } : current ? {} : { message: 'updating to the new spec' }),
    });
  }

  const base = { desired, running, updated, observedRevision: input.revision, replicas: rows, ...(spec ? { image: runImageOf(spec) } : {}) };
  if (!decoded.ok) {
    return {
      ...base,
      phase: 'Invalid',
      message: `invalid manifest${lastPlaced ? ` (still running revision ${lastPlaced.revision})` : ''}: ${decoded.errors.join('; ')}`,
      errors: decoded.errors,
      ...(lastPlaced ? { runningRevision: lastPlaced.revision } : {}),
    };
  }
  const runningRevision = lastPlaced ? { runningRevision: lastPlaced.revision } : {};
  if (forbidden) {
    const [first] = forbidden.violations;
    const more = forbidden.violations.length > 1 ? ` (and ${forbidden.violations.length - 1} more: see errors or dokkaa describe)` : '';
    return {
      ...base,
      ...runningRevision,
      phase: 'Forbidden',
      rule: first!.rule,
      message: `${violationText(first!)}${more}${lastPlaced ? `; still running revision ${lastPlaced.revision}` : '; nothing runs'}`,
      errors: forbidden.violations.map(violationText),
    };
  }
  const pinError = pinErrorOf(decoded.spec, input.rollout);
  if (pinError) {
    const still = lastPlaced ? ` (still running revision ${lastPlaced.revision})` : '';
    return { ...base, ...runningRevision, phase: running > 0 ? 'Degraded' : 'Failed', message: `${running}/${desired} replicas running; ${pinError}${still}` };
  }
  const rollout = input.rollout?.targetHash === hash ? input.rollout : undefined;
  if (rollout?.phase === 'Stalled') {
    return { ...base, ...runningRevision, phase: 'Degraded', message: `${running}/${desired} replicas running; ${rollout.message}` };
  }
  if (running === desired) {
    const rolling = updated < desired ? `; rolling out: ${updated}/${desired} updated` : '';
    return { ...base, ...runningRevision, phase: 'Running', message: `${running}/${desired} replicas running${rolling}${oomNote(rows)}` };
  }
  if (troubled > 0) {
    const first = rows.find((r) => r.state !== 'unscheduled' && TROUBLED_STATES.includes(r.state));
    return {
      ...base,
      ...runningRevision,
      phase: running > 0 ? 'Degraded' : 'Failed',
      message: `${running}/${desired} replicas running; replica ${first!.replica} ${first!.state}${first!.message ? `: ${first!.message}` : ''}`,
    };
  }
  const missing = input.link?.missing.length ? input.link.missing : undefined;
  // Not `state !== 'running'`: a replica still running the old spec is not counted either,
  // and the message must say it is being updated rather than "starting".
  const waiting = rows.find((r) => !counted.has(r.replica));
  const why = missing ? `waiting for linked service(s) with no endpoint: ${missing.join(', ')}` : waiting?.message ?? 'starting';
  return { ...base, ...runningRevision, phase: 'Pending', message: `${running}/${desired} replicas running; ${why}` };
}

/** The first item of each key, as `items.find` by that key would give. */
function firstBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T> {
  const m = new Map<K, T>();
  for (const item of items) if (!m.has(key(item))) m.set(key(item), item);
  return m;
}

function replicaOn(replica: number, node: string): string {
  return `${replica}@${node}`;
}

/** The scheduler's verdict that the manifest's current revision breaks the cluster policy (an older revision's verdict no longer holds). */
export function forbiddenOf(input: Pick<StatusInput, 'decoded' | 'revision' | 'rollout'>): Forbidden | undefined {
  const f = input.rollout?.forbidden;
  return input.decoded.ok && f && f.revision === input.revision && f.violations.length > 0 ? f : undefined;
}

/**
 * A running manifest whose replicas were killed for passing their memory limit says so:
 * they run again, but the limit is likely too low (Kubernetes shows it as lastState).
 */
function oomNote(rows: ReplicaStatus[]): string {
  const killed = rows.filter((r) => r.lastTermination?.reason === 'OOMKilled');
  if (killed.length === 0) return '';
  const [r] = killed;
  const more = killed.length > 1 ? ` (and ${killed.length - 1} more)` : '';
  return `; replica ${r!.replica} restarted after OOMKilled at ${r!.lastTermination!.finishedAt}${more}`;
}

/**
 * A global manifest wants one replica per live matching node: those not cordoned, and the
 * cordoned ones that still run one.
 */
function globalDesired(spec: ManifestSpec, input: StatusInput): number {
  const holding = new Set(input.placements.filter((p) => p.replaces === undefined).map((p) => p.node));
  return input.liveNodes.filter((n) => matchesConstraints(n, spec.constraints) && (!input.cordoned?.has(n.name) || holding.has(n.name))).length;
}

/** A global manifest's rows: its placed replicas, those the scheduler could not place, then the next free indices up to `desired`. */
function globalIndices(placements: Placed[], unschedulable: Map<number, string>, desired: number): number[] {
  const indices = new Set([...placements.filter((p) => p.replaces === undefined).map((p) => p.replica), ...unschedulable.keys()]);
  for (let i = 0; indices.size < desired; i++) indices.add(i);
  return [...indices].sort((a, b) => a - b);
}

/**
 * A replicated manifest's rows, by count as the scheduler places them: the lowest `desired`
 * indices placed (not counting a move's replacement while its replica is placed), then those
 * the scheduler could not place, then the next free indices.
 */
function replicatedIndices(placements: Placed[], unschedulable: Map<number, string>, desired: number): number[] {
  const extra = [...unschedulable.keys()].sort((a, b) => a - b);
  return [...indicesFor(standingIndices(placements), desired, extra)].sort((a, b) => a - b);
}
