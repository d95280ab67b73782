import { serviceId } from '../../api/keys.js';
import type { PlacementRecord, ReplicaRecord, Termination } from '../../api/records.js';
import { formatMemory } from '../../api/reservation.js';
import type { ContainerDetails, ContainerSummary } from '../../src/docker/container-engine.js';
import { hostPathAllowed, namedVolumes } from '../../api/volumes.js';
import { containerDns, containerName, containerTemplate, LABEL, volumeLabels, volumeName } from './container-template.js';
import { planFiles, type FileWrite, type HeldFiles } from './file-plan.js';
import type { HealthState } from './health-prober.js';
import { nextCrashCount, restartDelayMs, shouldRestart } from './restart-backoff.js';

/**
 * What the node runner does for one replica, decided without I/O. A reconcile plans in
 * stages because each stage decides on what the engine reports after the one before:
 * `planContainers` (remove, drain, create), then on the kept container as inspected
 * `planRestart` (crash backoff), `planHealth` (unhealthy restarts), `planServing`
 * (start-first swap, rename) and `replicaRecord` (what to write).
 */

/** Seconds between the stop signal and the kill, for a container without a stop-grace label. */
const DEFAULT_STOP_GRACE_SECONDS = 10;

export type ContainerTemplate = ReturnType<typeof containerTemplate>;

/** One thing to do; the executor performs steps in order and stops at the first that throws. */
export type Step =
  /** Stop (with the container's stop-grace label if it has one), remove, stop probing, record Killed. */
  | { kind: 'remove'; containers: ContainerSummary[]; reason: string; graceSeconds: number }
  /** Delete the replica record unless it changed since it was read. */
  /** Deletes the record if still at `modRevision` (absent: at the revision last read, see readRecord). */
  | { kind: 'deleteRecord'; modRevision?: number }
  /** Put the replica record under the host's lease, unless it is stored so already. */
  | { kind: 'writeRecord'; record: ReplicaRecord }
  /** Read the record again, so the next write compares against what is stored now. */
  | { kind: 'readRecord' }
  /** Give endpoints time to drop the replica before its container stops. */
  | { kind: 'drain' }
  /** Pull the image unless the engine has it (event Pulled); if that fails, write `failed` with the error and throw. */
  | { kind: 'pull'; image: string; failed: ReplicaRecord }
  /** Write the replica's secret and config files (replacing what its directory held). */
  | { kind: 'writeFiles'; files: FileWrite[] }
  /** Remove the replica's secret and config files. */
  | { kind: 'removeFiles' }
  /** Create each named volume unless it exists (an existing one is adopted as it is). */
  | { kind: 'volumes'; volumes: { name: string; labels: Record<string, string> }[] }
  /** Create (removing a stale container of ours holding the name) and start (event Started, naming `name`). */
  | { kind: 'create'; spec: ContainerTemplate; name: string }
  | { kind: 'start'; containerId: string }
  | { kind: 'stop'; containerId: string; graceSeconds: number }
  /** Rename; a failure is logged, not thrown. */
  | { kind: 'rename'; containerId: string; name: string }
  | { kind: 'forgetProbe'; containerId: string }
  | { kind: 'event'; type: 'Normal' | 'Warning'; reason: string; message: string }
  | { kind: 'log'; level: 'info' | 'warn'; message: string; fields: Record<string, unknown> };

/** What the node runner read for one replica on this host. */
export interface ReplicaInput {
  app: string;
  name: string;
  replica: number;
  host: {
    node: string;
    /** Where other hosts reach this host's published ports. */
    address: string;
    /** The DNS server for this host's containers, if it runs one. */
    resolver: string | undefined;
    /** The cluster's key prefix, labelled on its containers. */
    cluster: string;
    /** Host path prefixes manifests may bind-mount here (`--allow-host-path`). */
    allowHostPaths?: readonly string[];
  };
  placement: PlacementRecord | undefined;
  /** `node-replicas/<this node>/<app>/<name>/<replica>` as read. */
  record: { value: ReplicaRecord | undefined; modRevision: number } | undefined;
  /** This replica's containers on this host, newest first. */
  containers: ContainerSummary[];
  /**
   * The link injector's resolution, as this host's containers see it: the env that points
   * at its ambassador, and the links not resolved yet. Undefined when the spec has no links
   * or no resolution made for the ambassador was read.
   */
  links?: { env: Record<string, string>; missing: string[] };
  /** The placement's secrets and configs as this host holds them; undefined when its spec uses none. */
  files?: HeldFiles;
  /** Whether the replica has a directory of secret and config files on this host. */
  hasFiles?: boolean;
}

/** Fields every record of one pass shares. */
type RecordBase = Pick<ReplicaRecord, 'app' | 'name' | 'replica' | 'node' | 'address' | 'containerName' | 'revision' | 'templateHash' | 'ports' | 'ready'>;

/** The container a pass keeps, and what the pass has decided about it so far. */
export interface Kept {
  placement: PlacementRecord;
  template: ContainerTemplate;
  base: RecordBase;
  /** The record this host wrote last, if the stored one is this host's. */
  mine: ReplicaRecord | undefined;
  /** The containers listed at the start of the pass. */
  containers: ContainerSummary[];
  waitingFor: string[];
  /** The previous container, kept serving by a start-first update until this one is ready. */
  serving: ContainerSummary | undefined;
  containerId: string;
  restarts: number;
  crashes: number;
  /**
   * The exit last seen (counted towards `crashes` if the policy restarts it): an exit is
   * counted, and reported by an event, once, however often we look.
   */
  countedExit: string | undefined;
  lastLog: string[] | undefined;
  /** How the container last ended; kept once it runs again. */
  lastTermination: Termination | undefined;
  /** Set while a crashed container waits out its backoff. */
  requeueAfterMs?: number;
  health?: HealthState;
  ready?: boolean;
  /** What the record says about the serving container while the new one is not ready. */
  servingRecord?: ReplicaRecord['serving'];
}

export interface ContainersPlan {
  steps: Step[];
  /**
   * The container the later stages look after; none when the pass ends here. Without a
   * `containerId` when the `create` step makes it.
   */
  kept?: Omit<Kept, 'containerId'> & { containerId: string | undefined };
}

/**
 * Whether a replica has endpoints (a published service, or a container serving through a
 * start-first update) that must be drained before it stops. Without, nothing routes to it:
 * the drain's wait would only delay the stop.
 */
function hasEndpoints(r: ReplicaRecord): boolean {
  return Object.keys(r.ports).length > 0 || r.serving !== undefined;
}

/** Which containers stay and go, whether to wait for links, and whether to create one. */
export function planContainers(input: ReplicaInput): ContainersPlan {
  const { app, name, replica, host, placement, record, containers } = input;
  const mine = record?.value?.node === host.node ? record.value : undefined;
  if (!placement) {
    const removed = removal(containers, 'no longer placed here', DEFAULT_STOP_GRACE_SECONDS);
    // Its secret files go with its last container.
    if (input.hasFiles) removed.push({ kind: 'removeFiles' });
    // A replica that serves (scaled down, moved off by a drain or rebalance) first says it
    // is not ready, so that its endpoints leave every router and ambassador before it stops.
    if (mine?.ready && hasEndpoints(mine) && removed.length) {
      return { steps: [{ kind: 'writeRecord', record: { ...mine, ready: false, message: 'no longer placed here; stopping' } }, { kind: 'drain' }, ...removed, { kind: 'readRecord' }, { kind: 'deleteRecord' }] };
    }
    if (record && mine) removed.push({ kind: 'deleteRecord', modRevision: record.modRevision });
    return { steps: removed };
  }

  const base: RecordBase = {
    app, name, replica, node: host.node,
    address: host.address,
    containerName: containerName(app, name, replica),
    revision: placement.revision,
    templateHash: placement.templateHash,
    ports: {},
    ready: false,
  };
  // Links: nothing new starts until every link is resolved; what runs stays. A resolution
  // without the ambassador's `links` predates it: wait for the link injector to rewrite it.
  const links = placement.spec.links;
  const waitingFor = links.length === 0 ? [] : input.links ? input.links.missing : links.map((l) => serviceId(l.app, l.service));
  const env = links.length > 0 && input.links ? input.links.env : {};
  // Secrets and configs: likewise nothing new starts until this host holds each one.
  const files = planFiles(placement.spec, input.files);
  const template = containerTemplate(placement, env, host.node, containerDns(host.resolver, app), host.cluster, files.template);
  const current = containers.find((c) => c.labels[LABEL.hash] === template.hash) ?? (waitingFor.length || files.missing.length ? containers[0] : undefined);
  const outdated = containers.filter((c) => c !== current);
  // start-first: an old running container keeps serving until the new one is ready.
  const serving = placement.spec.update.order === 'start-first' && !waitingFor.length ? outdated.find((c) => c.state === 'running') : undefined;

  const steps: Step[] = [];
  if (outdated.length > 0 && !serving && mine?.ready && hasEndpoints(mine)) {
    // stop-first: take the replica out of its endpoints before stopping it.
    steps.push({ kind: 'writeRecord', record: { ...mine, ready: false, message: 'stopping for an update' } }, { kind: 'drain' });
  }
  steps.push(...removal(outdated.filter((c) => c !== serving), 'spec changed', graceSeconds(placement)));

  if (!current && files.missing.length) {
    steps.push({
      kind: 'writeRecord',
      record: { ...base, state: 'pending', containerName: template.name, restarts: 0, crashes: 0, message: `waiting for ${files.missing.join(', ')} to reach this host` },
    });
    return { steps };
  }
  if (!current && waitingFor.length) {
    steps.push({
      kind: 'writeRecord',
      record: {
        ...base, state: 'pending', containerName: template.name, restarts: 0, crashes: 0,
        message: `waiting for linked service(s) with no endpoint yet: ${waitingFor.join(', ')}`,
      },
    });
    return { steps };
  }

  // Counts and the last exit belong to a container: a new one starts from nothing.
  const same = current !== undefined && mine?.containerId === current.id;
  if (!current) {
    const refused = Object.values(placement.spec.volumes ?? {}).find((v) => v.hostPath !== undefined && !hostPathAllowed(v.hostPath, host.allowHostPaths ?? []));
    if (refused) {
      const message = `host path ${refused.hostPath} is not allowed on ${host.node} (--allow-host-path)`;
      steps.push({ kind: 'writeRecord', record: { ...base, state: 'failed', containerName: template.name, restarts: 0, crashes: 0, message } });
      return { steps };
    }
    const volumes = namedVolumes(placement.spec).map((v) => ({ name: volumeName(app, name, replica, v), labels: volumeLabels(host.cluster, host.node, app, name, replica, v) }));
    if (volumes.length) steps.push({ kind: 'volumes', volumes });
    steps.push(
      { kind: 'pull', image: template.image, failed: { ...base, state: 'failed', containerName: template.name, restarts: 0, crashes: 0 } },
      ...(files.writes.length ? [{ kind: 'writeFiles' as const, files: files.writes }] : []),
      // Beside a serving container the new one needs another name until the swap.
      { kind: 'create', spec: serving ? { ...template, name: `${template.name}-${template.hash}` } : template, name: template.name },
    );
  }
  return {
    steps,
    kept: {
      placement, template, base, mine, containers, waitingFor, serving,
      containerId: current?.id,
      restarts: same ? mine.restarts : 0,
      crashes: same ? mine.crashes : 0,
      countedExit: same ? mine.finishedAt : undefined,
      lastLog: same ? mine.lastLog : undefined,
      lastTermination: same ? mine.lastTermination : undefined,
    },
  };
}

function removal(containers: ContainerSummary[], reason: string, grace: number): Step[] {
  return containers.length ? [{ kind: 'remove', containers, reason, graceSeconds: grace }] : [];
}

/** An exit not yet counted: the one time to keep what the container said last. */
export function unseenExit(kept: Kept, details: ContainerDetails): boolean {
  return !details.running && details.state !== 'created' && kept.countedExit !== details.finishedAt;
}

/**
 * A stopped container: started again by its restart policy once its backoff has passed
 * (`requeueAfterMs` until then), or started if it was only created. `lastLines` is what
 * it logged last, read when `unseenExit`; `now` the clock.
 */
export function planRestart(kept: Kept, details: ContainerDetails, lastLines: string[] | undefined, now: number): { steps: Step[]; kept: Kept } {
  const exited = !details.running && details.state !== 'created';
  const unseen = unseenExit(kept, details);
  let { crashes, countedExit, restarts } = kept;
  const lastLog = unseen ? lastLines : kept.lastLog;
  // Read afresh while the container is down: Docker may set OOMKilled a moment after the exit.
  const lastTermination = exited ? terminationOf(details) : kept.lastTermination;
  const restarting = exited && shouldRestart(kept.placement.spec.restart, details.exitCode);
  const steps: Step[] = [];
  if (unseen) countedExit = details.finishedAt;
  if (restarting && unseen) crashes = nextCrashCount(crashes, runMs(details.startedAt, details.finishedAt));
  // One event per exit: an OOM kill says so (with the restart to come), any other crash is a BackOff.
  const next = restarting ? `; restart ${restarts + 1} after ${restartDelayMs(crashes) / 1000} s` : '';
  if (unseen && details.oomKilled) steps.push(event('Warning', 'OOMKilled', `container ${oomMessage(kept.placement)} (exit code ${details.exitCode})${next}`));
  else if (unseen && restarting) steps.push(event('Warning', 'BackOff', `container exited with code ${details.exitCode}${next}`));
  let requeueAfterMs: number | undefined;
  if (restarting) {
    const waitMs = restartDelayMs(crashes) - (now - Date.parse(details.finishedAt ?? '0'));
    if (waitMs > 0) {
      requeueAfterMs = waitMs;
    } else {
      restarts += 1;
      steps.push(
        { kind: 'start', containerId: kept.containerId },
        { kind: 'log', level: 'info', message: 'container restarted', fields: { containerId: kept.containerId, exitCode: details.exitCode, restarts, crashes } },
      );
    }
  } else if (details.state === 'created') {
    steps.push({ kind: 'start', containerId: kept.containerId });
  }
  return { steps, kept: { ...kept, crashes, countedExit, restarts, lastLog, lastTermination, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) } };
}

/** How an exited container ended, as `lastTermination` records it. */
function terminationOf(d: ContainerDetails): Termination {
  return { reason: d.oomKilled ? 'OOMKilled' : d.exitCode === 0 ? 'Completed' : 'Error', exitCode: d.exitCode, finishedAt: d.finishedAt ?? '' };
}

/** `killed: out of memory (limit 64Mi)`: what an OOM kill means for this replica. */
function oomMessage(placement: PlacementRecord): string {
  const limit = placement.spec.resources?.memoryBytes;
  return `killed: out of memory${limit !== undefined ? ` (limit ${formatMemory(limit)})` : ''}`;
}

/**
 * Health: a running container failing its check is restarted, out of its endpoints first
 * so no new request reaches it. `health` is the verdict on `details` (running, with a check).
 */
export function planHealth(kept: Kept, details: ContainerDetails, health: HealthState | undefined): { steps: Step[]; kept: Kept } {
  const { containerId, mine } = kept;
  if (!details.running) return { steps: [{ kind: 'forgetProbe', containerId }], kept };
  if (!kept.placement.spec.health || health?.status !== 'unhealthy') return { steps: [], kept };
  const steps: Step[] = [
    { kind: 'log', level: 'warn', message: 'container unhealthy; restarting', fields: { containerId, error: health.lastError } },
    event('Warning', 'Unhealthy', `health check failed ${health.failures} times: ${health.lastError ?? ''}; restarting`),
    { kind: 'forgetProbe', containerId },
  ];
  if (mine?.ready) {
    steps.push({ kind: 'writeRecord', record: { ...mine, ready: false, message: `unhealthy (${health.lastError ?? 'check failed'}); restarting` } }, { kind: 'drain' });
  }
  steps.push({ kind: 'stop', containerId, graceSeconds: graceSeconds(kept.placement) }, { kind: 'start', containerId });
  return { steps, kept: { ...kept, restarts: kept.restarts + 1 } };
}

/**
 * Readiness, and what becomes of a serving container: once the new one is ready the
 * endpoints move to it, drain, and the old one goes. With nothing else left, a container
 * still under a temporary name takes the replica's name.
 */
export function planServing(kept: Kept, details: ContainerDetails, health: HealthState | undefined): { steps: Step[]; kept: Kept } {
  const ready = details.running && (!kept.placement.spec.health || health?.status === 'healthy');
  const k: Kept = { ...kept, ready, health };
  const { serving, mine } = k;
  if (serving && ready) {
    const swapped: Kept = { ...k, serving: undefined };
    return {
      steps: [
        { kind: 'writeRecord', record: replicaRecord(swapped, details) },
        { kind: 'drain' },
        { kind: 'remove', containers: [serving], reason: 'replaced by a ready container (start-first)', graceSeconds: graceSeconds(k.placement) },
        { kind: 'readRecord' },
      ],
      kept: swapped,
    };
  }
  if (serving) {
    const servingRecord = mine?.containerId === serving.id ? { containerId: serving.id, ports: mine.ports } : mine?.serving;
    return { steps: [], kept: servingRecord ? { ...k, servingRecord } : k };
  }
  if (details.name !== k.template.name && k.containers.every((c) => c.id === k.containerId)) {
    return { steps: [{ kind: 'rename', containerId: k.containerId, name: k.template.name }], kept: k };
  }
  return { steps: [], kept: k };
}

/** The replica record for the kept container as inspected. */
export function replicaRecord(kept: Kept, d: ContainerDetails): ReplicaRecord {
  const backingOff = kept.requeueAfterMs !== undefined;
  const { countedExit, lastLog, lastTermination, health, waitingFor, servingRecord } = kept;
  const oomKilled = !d.running && d.oomKilled === true;
  return {
    ...kept.base,
    containerName: d.name,
    containerId: kept.containerId,
    state: d.running ? 'running' : oomKilled ? 'OOMKilled' : backingOff ? 'CrashLoopBackOff' : 'exited',
    restarts: kept.restarts,
    crashes: kept.crashes,
    ...(d.running ? {} : { exitCode: d.exitCode }),
    ...(d.startedAt ? { startedAt: d.startedAt } : {}),
    ...(countedExit ? { finishedAt: countedExit } : !d.running && d.finishedAt ? { finishedAt: d.finishedAt } : {}),
    ports: d.running ? publishedPorts(kept.placement, d) : {},
    ready: kept.ready ?? false,
    ...(health ? { health } : {}),
    ...(lastLog?.length ? { lastLog } : {}),
    ...(lastTermination ? { lastTermination } : {}),
    ...(oomKilled ? { message: `${oomMessage(kept.placement)}${backingOff ? '; back-off restarting' : ''}` }
      : backingOff ? { message: `back-off restarting crashed container (exit code ${d.exitCode})` } : {}),
    ...(waitingFor.length ? { message: `kept running; waiting for linked service(s): ${waitingFor.join(', ')}` } : {}),
    ...(servingRecord ? { serving: servingRecord, message: 'updating: the previous container serves until this one is ready' } : {}),
  };
}

function publishedPorts(placement: PlacementRecord, details: ContainerDetails): ReplicaRecord['ports'] {
  const ports: ReplicaRecord['ports'] = {};
  for (const [svc, decl] of Object.entries(placement.spec.services)) {
    const hostPort = details.hostPorts[`${decl.port}/${decl.protocol}`];
    if (hostPort) ports[svc] = { containerPort: decl.port, hostPort, protocol: decl.protocol };
  }
  return ports;
}

function graceSeconds(placement: PlacementRecord): number {
  return placement.spec.stopGracePeriodMs / 1000;
}

function event(type: 'Normal' | 'Warning', reason: string, message: string): Step {
  return { kind: 'event', type, reason, message };
}

function runMs(startedAt?: string, finishedAt?: string): number {
  const ms = Date.parse(finishedAt ?? '') - Date.parse(startedAt ?? '');
  return Number.isFinite(ms) ? ms : 0;
}
