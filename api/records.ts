import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { formatErrors, show } from './decode-errors.js';
import { ManifestSpec } from './manifest.js';

/*
 * Every JSON value Dokkaa's processes write to etcd, as an io-ts codec: the codec is the
 * single source of each record's type. Codecs are open (`t.type`, not `t.exact`): a field
 * this version does not know is kept, not an error, and a decoded record is the object
 * as written. Fields a writer may leave out are in `t.partial`.
 */

const Protocol = t.keyof({ tcp: null, udp: null }, '"tcp" or "udp"');

/** A port number 1-65535 (plain number, unlike the manifest's branded Port). */
const PortNumber = new t.Type<number, number, unknown>(
  'Port',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 1 && u <= 65535,
  (u, c) => (typeof u === 'number' && Number.isInteger(u) && u >= 1 && u <= 65535 ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** CPUs and bytes of memory: a capacity, a reservation, an allocation. */
export const Amounts = t.type({ cpus: t.number, memoryBytes: t.number }, 'Amounts');
export type Amounts = t.TypeOf<typeof Amounts>;

/** nodes/<node>: a live host. Held by the host's lease: gone when the host is. */
export const NodeRecord = t.intersection(
  [
    t.type({
      name: t.string,
      /** Address at which containers on other hosts reach this host's published ports. */
      address: t.string,
      labels: t.record(t.string, t.string),
      capacity: t.type({ cpus: t.number, memoryBytes: t.number }),
      version: t.string,
      startedAt: t.string,
    }),
    t.partial({
      /** The host's Docker Engine, as the agent reaches it (for `dokkaa logs`). */
      docker: t.string,
      /**
       * What the scheduler may reserve here: `capacity` (the engine's figures, or the agent's
       * --capacity-* overrides) less the host's reserve (--reserve-cpus, --reserve-memory).
       * Absent (an agent from before resources): `capacity`.
       */
      allocatable: Amounts,
      /** What the placements on this host reserve, as the agent last counted them. */
      allocated: t.intersection([Amounts, t.type({ replicas: t.number })]),
      /** The public half (raw X25519, base64) of this host's own key: secrets are sealed to it for this host only. */
      sealingKey: t.string,
    }),
  ],
  'NodeRecord',
);
export type NodeRecord = t.TypeOf<typeof NodeRecord>;

/** What every placement says besides its spec. */
const placementFields = {
  app: t.string,
  name: t.string,
  replica: t.number,
  node: t.string,
  templateHash: t.string,
  /** The manifest's mod revision this spec came from. */
  revision: t.number,
};
const placementOptional = {
  /** When the scheduler last put a new spec here (ms since the epoch, scheduler's clock). */
  updatedAt: t.number,
  /** What this replica reserves on its node (api/reservation.ts). Absent: the default reservation. */
  reserved: Amounts,
  /**
   * A move in progress (drain, rebalance): this placement is the replacement of replica
   * `replaces` of the same manifest, which keeps running until this one is ready. It does
   * not count towards `scale` while that replica exists.
   */
  replaces: t.number,
};

/** placements/<node>/<app>/<name>/<replica>: the scheduler's decision, with the spec to run. */
export const PlacementRecord = t.intersection(
  [
    t.type({
      ...placementFields,
      /** The last valid spec: an invalid manifest never reaches a placement. */
      spec: ManifestSpec,
    }),
    t.partial(placementOptional),
  ],
  'PlacementRecord',
);
export type PlacementRecord = t.TypeOf<typeof PlacementRecord>;

/**
 * What the informers keep of a placement: all but the spec, which only the host that runs
 * it reads (from etcd, when it reconciles). Unknown fields are dropped, so the cache of a
 * cluster's placements (100,000 at 1,000 hosts) stays small and cheap to decode.
 */
export const PlacementSummary = t.exact(t.intersection([t.type(placementFields), t.partial(placementOptional)]), 'PlacementSummary');
export type PlacementSummary = t.TypeOf<typeof PlacementSummary>;

/** A recorded version of a manifest, for rollbacks. */
export const RevisionRef = t.type(
  {
    templateHash: t.string,
    revision: t.number,
    /** The manifest text as the user wrote it. */
    manifest: t.string,
  },
  'RevisionRef',
);
export type RevisionRef = t.TypeOf<typeof RevisionRef>;

/**
 * The image a spec was pinned to (api/image-pins.ts): for the spec of template hash
 * `baseHash` (before pinning) and the restart request `restartedAt`, the digest its tag
 * resolved to, or `unpinned` saying why it runs by tag.
 */
export const ImagePin = t.intersection(
  [t.type({ baseHash: t.string, image: t.string }), t.partial({ digest: t.string, restartedAt: t.string, unpinned: t.string })],
  'ImagePin',
);
export type ImagePin = t.TypeOf<typeof ImagePin>;

/** The scheduler's verdict that a manifest's revision breaks the cluster policy, with the rules it breaks. */
export const Forbidden = t.type({ revision: t.number, violations: t.array(t.type({ rule: t.string, message: t.string })) }, 'Forbidden');
export type Forbidden = t.TypeOf<typeof Forbidden>;

/** rollouts/<app>/<name>: the scheduler's rolling update of a manifest, and its history. */
export const RolloutRecord = t.intersection(
  [
    t.type({
      phase: t.keyof({ Progressing: null, Complete: null, Stalled: null }, '"Progressing", "Complete" or "Stalled"'),
      targetHash: t.string,
      targetRevision: t.number,
      message: t.string,
      /** Replicas switched to the target spec, of which `ready` passed the monitor period. */
      updated: t.number,
      ready: t.number,
      total: t.number,
      startedAt: t.string,
    }),
    t.partial({
      /** The version being rolled out (its manifest text, for a later rollback to it). */
      target: RevisionRef,
      /** The last version that completed a rollout. */
      stable: RevisionRef,
      /** The version before the current target (the stable one if any): what `dokkaa rollback` restores. */
      previous: RevisionRef,
      /** Replicas the scheduler can place nowhere, by reason (the status shows them). */
      unschedulable: t.array(t.type({ reason: t.string, replicas: t.array(t.number) })),
      /** The target's image pin (status and describe show the digest). */
      pin: ImagePin,
      /** Why the spec of template hash `baseHash` could not be pinned: the previous version keeps running. */
      pinError: t.type({ baseHash: t.string, message: t.string }),
      /** The manifest revision `revision` breaks the cluster policy (api/admission.ts): nothing of it is placed. */
      forbidden: Forbidden,
    }),
  ],
  'RolloutRecord',
);
export type RolloutRecord = t.TypeOf<typeof RolloutRecord>;

/** `OOMKilled`: the container was killed for passing its memory limit and is not running (backing off, or not restarted by its policy). */
export const ReplicaState = t.keyof(
  { pending: null, running: null, CrashLoopBackOff: null, OOMKilled: null, exited: null, failed: null },
  '"pending", "running", "CrashLoopBackOff", "OOMKilled", "exited" or "failed"',
);
export type ReplicaState = t.TypeOf<typeof ReplicaState>;

/** States of a replica whose container is down (crashed, OOM-killed, exited or never made): status reports them as trouble. */
export const TROUBLED_STATES: readonly ReplicaState[] = ['failed', 'CrashLoopBackOff', 'OOMKilled', 'exited'];

/**
 * How a replica's container last ended, kept after it is restarted (as Kubernetes' lastState):
 * `OOMKilled` (killed for passing its memory limit), `Error` (a non-zero exit) or `Completed`.
 */
export const Termination = t.type(
  {
    reason: t.keyof({ OOMKilled: null, Error: null, Completed: null }, '"OOMKilled", "Error" or "Completed"'),
    exitCode: t.number,
    finishedAt: t.string,
  },
  'Termination',
);
export type Termination = t.TypeOf<typeof Termination>;

export const PublishedPort = t.type({ containerPort: t.number, hostPort: t.number, protocol: Protocol }, 'PublishedPort');
export type PublishedPort = t.TypeOf<typeof PublishedPort>;

/** replicas/<app>/<name>/<replica>: what the host runs. Held by the host's lease. */
export const ReplicaRecord = t.intersection(
  [
    t.type({
      app: t.string,
      name: t.string,
      replica: t.number,
      node: t.string,
      /** The host's address (copied from its node record) for endpoints. */
      address: t.string,
      state: ReplicaState,
      containerName: t.string,
      templateHash: t.string,
      revision: t.number,
      /** Restarts by Dokkaa since the container was created. */
      restarts: t.number,
      /** Crashes in a row without a long clean run: drives the restart backoff. */
      crashes: t.number,
      /** service name -> published port. */
      ports: t.record(t.string, PublishedPort),
      /** Running and, if the manifest has a health check, passing it: only ready replicas get endpoints. */
      ready: t.boolean,
    }),
    t.partial({
      containerId: t.string,
      exitCode: t.number,
      startedAt: t.string,
      /** The container's last exit counted towards `crashes` (Docker's FinishedAt), if any. */
      finishedAt: t.string,
      health: t.intersection([
        t.type({ status: t.keyof({ starting: null, healthy: null, unhealthy: null }, '"starting", "healthy" or "unhealthy"'), failures: t.number }),
        t.partial({ lastError: t.string }),
      ]),
      /** The last lines the container logged before its last exit. */
      lastLog: t.array(t.string),
      /** How the container last ended; stays after it is restarted. */
      lastTermination: Termination,
      /**
       * A start-first update in progress: the previous container, which keeps serving (and
       * keeps its endpoints) until the new one, described by the rest of the record, is ready.
       */
      serving: t.type({ containerId: t.string, ports: t.record(t.string, PublishedPort) }),
      message: t.string,
      /** An image pull this replica waits for: bytes so far and in all (as far as known). */
      pull: t.type({ image: t.string, percent: t.number, bytes: t.number, total: t.number }),
    }),
  ],
  'ReplicaRecord',
);
export type ReplicaRecord = t.TypeOf<typeof ReplicaRecord>;

/** services/<app>/<service>/<endpoint>: where one replica serves. Held by the host's lease. */
export const EndpointRecord = t.type(
  {
    host: t.string,
    port: PortNumber,
    protocol: Protocol,
    node: t.string,
    app: t.string,
    name: t.string,
    replica: t.number,
    containerId: t.string,
  },
  'EndpointRecord',
);
export type EndpointRecord = t.TypeOf<typeof EndpointRecord>;

/**
 * ports/<app>/<service>: the port allocated cluster-wide to a linked service. Every host's
 * ambassador listens on it and forwards to the service's endpoints. Created together with
 * `portalloc/<port>` (value `app/service`, not JSON) in one transaction; not leased.
 * The allocator always writes `protocol`; any other value, or none, reads as tcp, as
 * readers always took it.
 */
export const PortRecord = t.type(
  {
    port: PortNumber,
    protocol: new t.Type<'tcp' | 'udp', 'tcp' | 'udp', unknown>('"tcp" or "udp"', Protocol.is, (u) => t.success(u === 'udp' ? 'udp' : 'tcp'), t.identity),
  },
  'PortRecord',
);
export type PortRecord = t.TypeOf<typeof PortRecord>;

/** One resolved link: the service and the ambassador port that reaches it. */
export const ResolvedLink = t.type({ app: t.string, service: t.string, port: t.number, protocol: Protocol }, 'ResolvedLink');
export type ResolvedLink = t.TypeOf<typeof ResolvedLink>;

/**
 * routes/<app>/<name>: what each host's web router serves of a manifest: the version the
 * scheduler admitted (its rollout's target), not the manifest key, so a revision the policy
 * forbids (or that does not decode) changes no route. Written only while that version has
 * a web service.
 */
export const RoutesRecord = t.type(
  {
    /** The admitted manifest text (the routers decode it as the scheduler did). */
    manifest: t.string,
    /** Its manifest revision. */
    revision: t.number,
    /** The manifest key's create revision: who claimed a host name first. */
    createRevision: t.number,
  },
  'RoutesRecord',
);
export type RoutesRecord = t.TypeOf<typeof RoutesRecord>;

/**
 * links/<app>/<name>: the link injector's resolution of a manifest's links. A record
 * written before the ambassador (with `env` instead of `links`) does not decode: readers
 * treat it as no resolution yet, as they did before.
 */
export const LinkRecord = t.type(
  {
    /**
     * `<NAME>` (as in SERVICE_<NAME>_ADDR/_PORT) -> the resolved link. Each host's node runner
     * turns it into SERVICE_<NAME>_ADDR = its ambassador's address, SERVICE_<NAME>_PORT = port.
     */
    links: t.record(t.string, ResolvedLink),
    /** Links not resolved yet (no port allocated, or never an endpoint), as `app/service`. */
    missing: t.array(t.string),
    /** The manifest revision this resolution was made for. */
    revision: t.number,
  },
  'LinkRecord',
);
export type LinkRecord = t.TypeOf<typeof LinkRecord>;

export const Phase = t.keyof(
  { Pending: null, Running: null, Degraded: null, Invalid: null, Forbidden: null, Failed: null },
  '"Pending", "Running", "Degraded", "Invalid", "Forbidden" or "Failed"',
);
export type Phase = t.TypeOf<typeof Phase>;

export const ReplicaStatus = t.intersection(
  [
    t.type({
      replica: t.number,
      node: t.string,
      state: t.union([ReplicaState, t.literal('unscheduled')], 'a replica state or "unscheduled"'),
      restarts: t.number,
      ports: t.record(t.string, t.number),
    }),
    t.partial({
      containerId: t.string,
      ready: t.boolean,
      exitCode: t.number,
      lastLog: t.array(t.string),
      lastTermination: Termination,
      message: t.string,
    }),
  ],
  'ReplicaStatus',
);
export type ReplicaStatus = t.TypeOf<typeof ReplicaStatus>;

/** status/<app>/<name>: the truth about a manifest, for users and the CLI. */
export const StatusRecord = t.intersection(
  [
    t.type({
      phase: Phase,
      desired: t.number,
      /** Replicas ready on the spec they are placed with. */
      running: t.number,
      message: t.string,
      /** The manifest mod revision this status describes. */
      observedRevision: t.number,
      replicas: t.array(ReplicaStatus),
    }),
    t.partial({
      /**
       * Of `running`, the ones on the manifest's current spec (less than `running` mid-rollout).
       * Always written; records from before rolling updates lack it (`dokkaa describe` shows "-").
       */
      updated: t.number,
      /** The revision of the spec being run (differs from observedRevision when Invalid or Forbidden). */
      runningRevision: t.number,
      errors: t.array(t.string),
      /** Forbidden: the first policy rule the manifest breaks (`registries`, `quotas.cpus`...; docs/policy.md). */
      rule: t.string,
      /** The image the current spec runs: `repo@sha256:...` once pinned, else the reference as written. */
      image: t.string,
    }),
  ],
  'StatusRecord',
);
export type StatusRecord = t.TypeOf<typeof StatusRecord>;

/** events/<app>/<name>/<id>: what happened to a manifest's replicas; expires after about an hour. */
export const EventRecord = t.intersection(
  [
    t.type({
      time: t.string,
      /** Normal or Warning, as Kubernetes events. */
      type: t.keyof({ Normal: null, Warning: null }, '"Normal" or "Warning"'),
      /** Scheduled, Rescheduled, Pulled, Started, Killed, Unhealthy, BackOff, RolloutStalled, RolledBack... */
      reason: t.string,
      message: t.string,
      /** The process that wrote it (node name). */
      source: t.string,
    }),
    t.partial({ replica: t.number, node: t.string }),
  ],
  'EventRecord',
);
export type EventRecord = t.TypeOf<typeof EventRecord>;

/**
 * maintenance/<node>: an administrator's hold on a host (`dokkaa cordon`, `drain`), apart
 * from the host's own leased node record so that it outlives agent restarts and stays the
 * admins' to write. Absent: schedulable.
 */
export const MaintenanceRecord = t.intersection(
  [
    t.type({
      /** No new placements on this node. */
      cordoned: t.boolean,
      since: t.string,
    }),
    t.partial({
      /** Replicas are being moved off (replicated ones; global ones too with includeGlobal). */
      draining: t.intersection([t.type({ startedAt: t.string }), t.partial({ includeGlobal: t.boolean })]),
      reason: t.string,
    }),
  ],
  'MaintenanceRecord',
);
export type MaintenanceRecord = t.TypeOf<typeof MaintenanceRecord>;

/** One requested move of a replica: from its node to another (`to` absent: wherever placement picks). */
export const MoveRequest = t.intersection([t.type({ replica: t.number, from: t.string }), t.partial({ to: t.string })], 'MoveRequest');
export type MoveRequest = t.TypeOf<typeof MoveRequest>;

/**
 * moves/<app>/<name>: replicas `dokkaa rebalance` asked the scheduler to move, done one at a
 * time, start-first. The scheduler deletes the key when none is left to do.
 */
export const MovesRecord = t.type({ moves: t.array(MoveRequest), requestedAt: t.string, reason: t.string }, 'MovesRecord');
export type MovesRecord = t.TypeOf<typeof MovesRecord>;

/**
 * volumes/<node>/<app>/<name>/<replica>: replica `replica` of the manifest has (or will
 * have) its Docker named volumes on `node`. The scheduler writes it when it places a
 * replica with volumes there, and reads it to keep the replica there (docs/volumes.md).
 * Not leased: it outlives the node's absence, scale-downs and the manifest itself. The
 * CLI marks it for removal (`purge`, `remove`); that node's runner removes the volumes
 * once no container uses them and then deletes the record or drops the names.
 */
export const VolumeSetRecord = t.intersection(
  [
    t.type({
      app: t.string,
      name: t.string,
      replica: t.number,
      node: t.string,
      /** The manifest's named volumes (not host paths) as placed, sorted. */
      volumes: t.array(t.string),
      /** When the scheduler first placed the replica with volumes on this node: the newest set of a replica is its holder. */
      createdAt: t.string,
    }),
    t.partial({
      /** `dokkaa delete --purge`: remove every volume of the set, then this record. */
      purge: t.boolean,
      /** `dokkaa volume rm`: remove these volumes of the set. */
      remove: t.array(t.string),
      /** Why a requested removal waits (the node runner's word: in use). */
      message: t.string,
    }),
  ],
  'VolumeSetRecord',
);
export type VolumeSetRecord = t.TypeOf<typeof VolumeSetRecord>;

/** policy: the cluster's admission policy (its codec is in api/policy.ts, with the rules' helpers). */
export { PolicyRecord } from './policy.js';

/** router/config: cluster-wide router settings, written by `dokkaa router set` (absent: the defaults). */
export const RouterConfig = t.partial({ domain: t.string }, 'RouterConfig');
export type RouterConfig = t.TypeOf<typeof RouterConfig>;
export const DEFAULT_ROUTER_DOMAIN = 'dokkaa.local';

/**
 * certs/<host>: a TLS certificate the router serves by SNI for `host` (a name or `*.name`):
 * the PEM certificate (a chain is fine, leaf first) and its PEM private key, and what
 * `dokkaa cert add` read from it, for listing without parsing.
 */
export const CertRecord = t.intersection(
  [t.type({ cert: t.string, key: t.string }), t.partial({ issuer: t.string, notAfter: t.string, updated: t.string })],
  'CertRecord',
);
export type CertRecord = t.TypeOf<typeof CertRecord>;

/** A value sealed to the cluster key (src/crypto/seal.ts): X25519 + HKDF-SHA256 + AES-256-GCM, fields base64. */
export const SealedValue = t.type({ v: t.literal(1), epk: t.string, nonce: t.string, ct: t.string }, 'SealedValue');
export type SealedValue = t.TypeOf<typeof SealedValue>;

/** cluster-key: the public half (raw X25519, base64) of the key agents open sealed values with. */
export const ClusterKeyRecord = t.type({ publicKey: t.string, createdAt: t.string }, 'ClusterKeyRecord');
export type ClusterKeyRecord = t.TypeOf<typeof ClusterKeyRecord>;

/**
 * registries/<host>: credentials for pulls from `host` (as image references name it:
 * `reg.example.com:5000`, `docker.io`). The username is in the clear for `dokkaa registry
 * list`; `sealed` holds the JSON `{"password": ...}` sealed to the cluster key.
 */
export const RegistryRecord = t.type({ host: t.string, username: t.string, sealed: SealedValue, updated: t.string }, 'RegistryRecord');
export type RegistryRecord = t.TypeOf<typeof RegistryRecord>;

/**
 * secrets/<app>/<name>: a secret of `app` (`dokkaa secret set`), its value sealed to the
 * cluster key. `version` counts the sets (1, 2, ...; again from 1 after `secret rm`), for
 * `dokkaa secret list`; placements carry the record's mod revision instead, so a new value
 * rolls the replicas. `size` is the value's length in bytes.
 */
export const SecretRecord = t.type({ version: t.number, size: t.number, sealed: SealedValue, updated: t.string }, 'SecretRecord');
export type SecretRecord = t.TypeOf<typeof SecretRecord>;

/** configs/<app>/<name>: a config file of `app` (`dokkaa config set`), base64, in the clear. */
export const ConfigRecord = t.type({ version: t.number, size: t.number, data: t.string, updated: t.string }, 'ConfigRecord');
export type ConfigRecord = t.TypeOf<typeof ConfigRecord>;

/**
 * sealed/<node>/<app>/<name>: secret `name` of `app` at `version` (the secret record's mod
 * revision, as placements' specs name it), sealed to the node's own
 * key (its record's `sealingKey`) by the secrets controller; only nodes running a replica
 * that uses the secret have one. Also the record of `sealed-registries/<node>/<host>`: the
 * registry's `{"password": ...}` at `version` (the registry record's mod revision), for the
 * nodes whose replicas or pre-pulls pull from it.
 */
export const SealedCopyRecord = t.type(
  {
    version: t.number,
    sealed: SealedValue,
    /** The node's public key it is sealed to: a node with a new key gets a new copy. */
    key: t.string,
  },
  'SealedCopyRecord',
);
export type SealedCopyRecord = t.TypeOf<typeof SealedCopyRecord>;

/**
 * prepull/<app>/<name>: `dokkaa pull` asks every host that may run the manifest (its
 * constraints match the host's labels, not cordoned) to pull `image` (the pinned
 * `repo@sha256:...` if any). Written again (a new `requestedAt`) to ask again.
 */
export const PrepullRecord = t.type({ image: t.string, requestedAt: t.string }, 'PrepullRecord');
export type PrepullRecord = t.TypeOf<typeof PrepullRecord>;

/** prepulled/<app>/<name>/<node>: one host's answer to the prepull request of `requestedAt`, on its lease. */
export const PrepulledRecord = t.intersection(
  [
    t.type({
      image: t.string,
      requestedAt: t.string,
      state: t.keyof({ pulling: null, present: null, failed: null }, '"pulling", "present" or "failed"'),
      message: t.string,
    }),
    t.partial({ pull: t.type({ percent: t.number, bytes: t.number, total: t.number }) }),
  ],
  'PrepulledRecord',
);
export type PrepulledRecord = t.TypeOf<typeof PrepulledRecord>;

/** restarts/<app>/<name>: `dokkaa rollout restart`; the scheduler pins the image again and rolls when `requestedAt` is new. */
export const RestartRecord = t.type({ requestedAt: t.string }, 'RestartRecord');
export type RestartRecord = t.TypeOf<typeof RestartRecord>;

/** election/controller: who leads the cluster-wide controllers, since when. Held by the leader's lease. */
export const LeaderRecord = t.type({ id: t.string, host: t.string, pid: t.number, since: t.string }, 'LeaderRecord');
export type LeaderRecord = t.TypeOf<typeof LeaderRecord>;

/** `<skydns>/local/dokkaa/<app>/<service>/<label>`: the value SkyDNS and CoreDNS read. */
export const SkyDnsRecord = t.type({ host: t.string, port: t.number }, 'SkyDnsRecord');
export type SkyDnsRecord = t.TypeOf<typeof SkyDnsRecord>;

/** A record's JSON text, decoded; `error` is one `path: expected X, got Y` per problem, joined by "; ". */
export type DecodedRecord<A> = { ok: true; value: A } | { ok: false; error: string };

/** Decodes a record's JSON text with its codec; `whole` names the value itself in errors. Never throws. */
export function checkRecord<A>(codec: t.Decoder<unknown, A>, value: string, whole = '(record)'): DecodedRecord<A> {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (e) {
    return { ok: false, error: `${whole}: expected JSON, got ${(e as Error).message}` };
  }
  // Every record is an object; said once here rather than once per part of the codec.
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, error: `${whole}: expected a JSON object, got ${show(json)}` };
  const decoded = codec.decode(json);
  return isLeft(decoded) ? { ok: false, error: formatErrors(decoded.left, whole).join('; ') } : { ok: true, value: decoded.right };
}

/**
 * The record in `value` (an etcd value as read: absent is undefined or null), or undefined
 * when there is none or it does not decode; then `onInvalid` gets the reason, for the
 * caller to log. Never throws: a bad record must not stop a controller.
 */
export function decodeRecord<A>(codec: t.Decoder<unknown, A>, value: string | undefined | null, onInvalid?: (error: string) => void): A | undefined {
  if (value === undefined || value === null) return undefined;
  const r = checkRecord(codec, value);
  if (r.ok) return r.value;
  onInvalid?.(r.error);
  return undefined;
}

/** A `ports/` value, if it holds a usable port: only `port` and `protocol`. */
export function parsePortRecord(value: string | undefined): PortRecord | undefined {
  const r = decodeRecord(PortRecord, value);
  return r && { port: r.port, protocol: r.protocol };
}
