import type { ManifestSpec } from './manifest.js';

/** nodes/<node>: a live host. Held by the host's lease: gone when the host is. */
export interface NodeRecord {
  name: string;
  /** Address at which containers on other hosts reach this host's published ports. */
  address: string;
  labels: Record<string, string>;
  /** The host's Docker Engine, as the agent reaches it (for `dokkaa logs`). */
  docker?: string;
  capacity: { cpus: number; memoryBytes: number };
  version: string;
  startedAt: string;
}

/** placements/<node>/<app>/<name>/<replica>: the scheduler's decision, with the spec to run. */
export interface PlacementRecord {
  app: string;
  name: string;
  replica: number;
  node: string;
  /** The last valid spec: an invalid manifest never reaches a placement. */
  spec: ManifestSpec;
  templateHash: string;
  /** The manifest's mod revision this spec came from. */
  revision: number;
  /** When the scheduler last put a new spec here (ms since the epoch, scheduler's clock). */
  updatedAt?: number;
}

/** A recorded version of a manifest, for rollbacks. */
export interface RevisionRef {
  templateHash: string;
  revision: number;
  /** The manifest text as the user wrote it. */
  manifest: string;
}

/** rollouts/<app>/<name>: the scheduler's rolling update of a manifest, and its history. */
export interface RolloutRecord {
  phase: 'Progressing' | 'Complete' | 'Stalled';
  targetHash: string;
  targetRevision: number;
  message: string;
  /** Replicas switched to the target spec, of which `ready` passed the monitor period. */
  updated: number;
  ready: number;
  total: number;
  startedAt: string;
  /** The version being rolled out (its manifest text, for a later rollback to it). */
  target?: RevisionRef;
  /** The last version that completed a rollout. */
  stable?: RevisionRef;
  /** The version before the current target (the stable one if any): what `dokkaa rollback` restores. */
  previous?: RevisionRef;
}

export type ReplicaState = 'pending' | 'running' | 'CrashLoopBackOff' | 'exited' | 'failed';

export interface PublishedPort {
  containerPort: number;
  hostPort: number;
  protocol: 'tcp' | 'udp';
}

/** replicas/<app>/<name>/<replica>: what the host runs. Held by the host's lease. */
export interface ReplicaRecord {
  app: string;
  name: string;
  replica: number;
  node: string;
  /** The host's address (copied from its node record) for endpoints. */
  address: string;
  state: ReplicaState;
  containerId?: string;
  containerName: string;
  templateHash: string;
  revision: number;
  /** Restarts by Dokkaa since the container was created. */
  restarts: number;
  /** Crashes in a row without a long clean run: drives the restart backoff. */
  crashes: number;
  exitCode?: number;
  startedAt?: string;
  /** The container's last exit counted towards `crashes` (Docker's FinishedAt), if any. */
  finishedAt?: string;
  /** service name -> published port. */
  ports: Record<string, PublishedPort>;
  /** Running and, if the manifest has a health check, passing it: only ready replicas get endpoints. */
  ready: boolean;
  health?: { status: 'starting' | 'healthy' | 'unhealthy'; failures: number; lastError?: string };
  /** The last lines the container logged before its last exit. */
  lastLog?: string[];
  /**
   * A start-first update in progress: the previous container, which keeps serving (and
   * keeps its endpoints) until the new one, described by the rest of the record, is ready.
   */
  serving?: { containerId: string; ports: Record<string, PublishedPort> };
  message?: string;
}

/** services/<app>/<service>/<endpoint>: where one replica serves. Held by the host's lease. */
export interface EndpointRecord {
  host: string;
  port: number;
  protocol: 'tcp' | 'udp';
  node: string;
  app: string;
  name: string;
  replica: number;
  containerId: string;
}

/**
 * ports/<app>/<service>: the port allocated cluster-wide to a linked service. Every host's
 * ambassador listens on it and forwards to the service's endpoints. Created together with
 * `portalloc/<port>` (value `app/service`) in one transaction; not leased.
 */
export interface PortRecord {
  port: number;
  protocol: 'tcp' | 'udp';
}

/** One resolved link: the service and the ambassador port that reaches it. */
export interface ResolvedLink {
  app: string;
  service: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

/** links/<app>/<name>: the link injector's resolution of a manifest's links. */
export interface LinkRecord {
  /**
   * `<NAME>` (as in SERVICE_<NAME>_ADDR/_PORT) -> the resolved link. Each host's node runner
   * turns it into SERVICE_<NAME>_ADDR = its ambassador's address, SERVICE_<NAME>_PORT = port.
   */
  links: Record<string, ResolvedLink>;
  /** Links not resolved yet (no port allocated, or never an endpoint), as `app/service`. */
  missing: string[];
  /** The manifest revision this resolution was made for. */
  revision: number;
}

export type Phase = 'Pending' | 'Running' | 'Degraded' | 'Invalid' | 'Failed';

export interface ReplicaStatus {
  replica: number;
  node: string;
  state: ReplicaState | 'unscheduled';
  containerId?: string;
  ready?: boolean;
  restarts: number;
  exitCode?: number;
  lastLog?: string[];
  ports: Record<string, number>;
  message?: string;
}

/** status/<app>/<name>: the truth about a manifest, for users and the CLI. */
export interface StatusRecord {
  phase: Phase;
  desired: number;
  /** Replicas ready on the spec they are placed with. */
  running: number;
  /** Of those, the ones on the manifest's current spec (less than `running` mid-rollout). */
  updated: number;
  message: string;
  /** The manifest mod revision this status describes. */
  observedRevision: number;
  /** The revision of the spec being run (differs from observedRevision when Invalid). */
  runningRevision?: number;
  errors?: string[];
  replicas: ReplicaStatus[];
}

/** Parses a record written by a controller; undefined for anything that is not JSON. */
export function parseRecord<T>(value: string | undefined | null): T | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    return JSON.parse(value) as T;
  } catch {
    return undefined;
  }
}

/** events/<app>/<name>/<id>: what happened to a manifest's replicas; expires after about an hour. */
export interface EventRecord {
  time: string;
  /** Normal or Warning, as Kubernetes events. */
  type: 'Normal' | 'Warning';
  /** Scheduled, Rescheduled, Pulled, Started, Killed, Unhealthy, BackOff, RolloutStalled, RolledBack... */
  reason: string;
  message: string;
  replica?: number;
  node?: string;
  /** The process that wrote it (node name). */
  source: string;
}
