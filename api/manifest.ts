import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { CapAdd, CapDrop, normalizeCapabilities, User } from './capabilities.js';
import { checkedRecord, closedType } from './closed-type.js';
import { formatErrors } from './decode-errors.js';
import { DnsLabel, HostName, isDnsLabel } from './names.js';
import { shortHash } from './canonical-json.js';
import { Port } from './ports.js';
import { Cpus, Memory } from './quantities.js';
import { Duration, Health, HealthSpec, normalizeHealth, normalizeUpdate, Update, UpdateSpec } from './lifecycle.js';
import { normalizeVolume, VolumeDecl, VolumeLoss, VolumeSpec, volumeErrors } from './volumes.js';

export { Port } from './ports.js';

export interface NonNegativeIntBrand {
  readonly NonNegativeInt: unique symbol;
}
export const NonNegativeInt = t.brand(
  t.number,
  (n): n is t.Branded<number, NonNegativeIntBrand> => Number.isInteger(n) && n >= 0,
  'NonNegativeInt',
);

const Protocol = t.keyof({ tcp: null, udp: null }, '"tcp" or "udp"');

const PositiveInt = new t.Type<number, number, unknown>(
  'a positive integer',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 1,
  (u, c) => (typeof u === 'number' && Number.isInteger(u) && u >= 1 ? t.success(u) : t.failure(u, c, 'a positive integer')),
  t.identity,
);

/**
 * `{"nginx": 80}` (the article) or `{"nginx": {"port": 80, "role": "web"}}` (later code). A
 * service with role "web" is routed from outside by host name (docs/router.md): `hosts` adds
 * names, `httpsRedirect` sends HTTP to HTTPS where a certificate exists, `proxyProtocol`
 * sends PROXY protocol v2 to the backend.
 */
export const ServiceDecl = t.union(
  [
    Port,
    closedType('ServiceObject', { port: Port }, { protocol: Protocol, role: t.string, hosts: t.array(HostName), httpsRedirect: t.boolean, proxyProtocol: t.boolean }),
  ],
  'a port number or {port, protocol?, role?, hosts?, httpsRedirect?, proxyProtocol?}',
);

/** `nginx` (same app) or `otherapp/nginx`. */
const LinkRef = new t.Type<string, string, unknown>(
  'LinkRef',
  (u): u is string => typeof u === 'string' && u.split('/').length <= 2 && u.split('/').every(isDnsLabel),
  (u, c) =>
    typeof u === 'string' && u.split('/').length <= 2 && u.split('/').every(isDnsLabel)
      ? t.success(u)
      : t.failure(u, c, 'a service name "svc" or "app/svc" made of DNS labels'),
  t.identity,
);

const NonEmptyString = new t.Type<string, string, unknown>(
  'NonEmptyString',
  (u): u is string => typeof u === 'string' && u.trim() !== '',
  (u, c) => (typeof u === 'string' && u.trim() !== '' ? t.success(u) : t.failure(u, c, 'a non-empty string')),
  t.identity,
);

const EnvName = new t.Type<string, string, unknown>(
  'an env var name ([A-Za-z_][A-Za-z0-9_]*)',
  (u): u is string => typeof u === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(u),
  (u, c) =>
    typeof u === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(u)
      ? t.success(u)
      : t.failure(u, c, 'an env var name ([A-Za-z_][A-Za-z0-9_]*)'),
  t.identity,
);

/** `{"secret": "db-password"}`: an env value taken from a secret of the manifest's app. */
export const SecretRef = closedType('SecretRef', { secret: DnsLabel }, {});
export type SecretRef = t.TypeOf<typeof SecretRef>;
const EnvValue = t.union([t.string, SecretRef], 'a string or {"secret": NAME}');

/** Where a secret or config file appears in the container: an absolute path, not `/`, without `..` segments. */
const FilePath = new t.Type<string, string, unknown>(
  'an absolute file path',
  (u): u is string => isFilePath(u),
  (u, c) => (isFilePath(u) ? t.success(u) : t.failure(u, c, 'an absolute file path (not "/", no ".." segments)')),
  t.identity,
);

function isFilePath(u: unknown): u is string {
  return typeof u === 'string' && u.startsWith('/') && u.length > 1 && !u.endsWith('/') && !u.split('/').includes('..');
}

export const RestartPolicy = t.keyof({ always: null, 'on-failure': null, never: null }, '"always", "on-failure" or "never"');
export type RestartPolicy = t.TypeOf<typeof RestartPolicy>;

/** The manifest as users write it at `apps/<app>/<name>/manifest`. */
export const Manifest = closedType(
  'Manifest',
  { image: NonEmptyString },
  {
    scale: NonNegativeInt,
    command: t.array(t.string),
    env: checkedRecord(EnvName, EnvValue, 'env'),
    /** Secret name (of this app, `dokkaa secret set`) -> the file's path in the container. */
    secrets: checkedRecord(DnsLabel, FilePath, 'secrets'),
    /** Config name (of this app, `dokkaa config set`) -> the file's path in the container. */
    configs: checkedRecord(DnsLabel, FilePath, 'configs'),
    services: checkedRecord(DnsLabel, ServiceDecl, 'services'),
    links: t.array(LinkRef),
    restart: RestartPolicy,
    constraints: t.record(t.string, t.string),
    health: Health,
    update: Update,
    stopGracePeriod: Duration,
    /** Limits Docker enforces on each replica (NanoCpus, Memory). */
    resources: closedType('Resources', {}, { cpus: Cpus, memory: Memory }),
    /** `replicated` (default: `scale` replicas) or `global` (one on every matching node; no `scale`). */
    mode: t.keyof({ replicated: null, global: null }, '"replicated" or "global"'),
    /** How the scheduler picks nodes (docs/manifest.md). */
    placement: closedType('Placement', {}, { strategy: t.keyof({ spread: null, binpack: null }, '"spread" or "binpack"'), spreadBy: NonEmptyString, maxPerNode: PositiveInt }),
    /** Each replica's own Docker named volumes, or host paths, by name (api/volumes.ts, docs/volumes.md). */
    volumes: checkedRecord(DnsLabel, VolumeDecl, 'volumes'),
    /** When the node holding a replica's volumes is gone: `wait` for it (default) or `reschedule` with empty volumes. */
    volumeLoss: VolumeLoss,
    /** The user the command runs as (Docker's `--user`): `uid[:gid]` or a name; absent: the image's. */
    user: User,
    /** The container's root filesystem mounted read-only (volumes, secrets and configs stay as they are). */
    readOnlyRootfs: t.boolean,
    /** Linux capabilities added to Docker's default set, and taken away from it (`ALL`: every one). */
    capAdd: CapAdd,
    capDrop: CapDrop,
  },
);
export type Manifest = t.TypeOf<typeof Manifest>;

/** A replica's limits: CPUs (Docker's `--cpus`) and memory in bytes. */
export const ResourcesSpec = t.partial({ cpus: t.number, memoryBytes: t.number }, 'ResourcesSpec');
export type ResourcesSpec = t.TypeOf<typeof ResourcesSpec>;

/** The manifest's `placement`, as given (absent fields take the defaults in api/reservation.ts). */
export const PlacementSpec = t.partial(
  { strategy: t.keyof({ spread: null, binpack: null }), spreadBy: t.string, maxPerNode: t.number },
  'PlacementSpec',
);
export type PlacementSpec = t.TypeOf<typeof PlacementSpec>;

/*
 * The spec codecs below describe a manifest with its defaults applied, as placements carry
 * it (`placements/...`.spec): decoded from records, never from what users write.
 */

export const ServiceSpec = t.intersection(
  [t.type({ port: t.number, protocol: Protocol }), t.partial({ role: t.string, hosts: t.array(t.string), httpsRedirect: t.boolean, proxyProtocol: t.boolean })],
  'ServiceSpec',
);
export type ServiceSpec = t.TypeOf<typeof ServiceSpec>;

export const LinkSpec = t.type(
  {
    /** The app that provides the service (the manifest's own app when the link names none). */
    app: t.string,
    service: t.string,
  },
  'LinkSpec',
);
export type LinkSpec = t.TypeOf<typeof LinkSpec>;

/** A manifest with every default applied: what the controllers work from. */
export const ManifestSpec = t.intersection(
  [
    t.type({
      image: t.string,
      scale: t.number,
      env: t.record(t.string, t.union([t.string, t.type({ secret: t.string })])),
      services: t.record(t.string, ServiceSpec),
      links: t.array(LinkSpec),
      restart: RestartPolicy,
      constraints: t.record(t.string, t.string),
      update: UpdateSpec,
      /** Between the stop signal and the kill. */
      stopGracePeriodMs: t.number,
    }),
    t.partial({
      command: t.array(t.string),
      health: HealthSpec,
      resources: ResourcesSpec,
      /** Only `global` is written; absent means replicated. `scale` is then ignored. */
      mode: t.literal('global'),
      placement: PlacementSpec,
      /** Secret name -> path in the container. Only when given. */
      secrets: t.record(t.string, t.string),
      /** Config name -> path in the container. Only when given. */
      configs: t.record(t.string, t.string),
      /**
       * The versions (their records' etcd mod revisions) of the secrets (files and env) and
       * configs the spec uses, as the scheduler found them: in the template hash, so a new
       * value rolls the replicas.
       */
      secretVersions: t.record(t.string, t.number),
      configVersions: t.record(t.string, t.number),
      volumes: t.record(t.string, VolumeSpec),
      /** Only `reschedule` is written; absent means wait. */
      volumeLoss: t.literal('reschedule'),
      /** Set by the scheduler, never by the manifest: the digest `image` was pinned to (api/image-pins.ts). */
      imageDigest: t.string,
      /** Set by the scheduler: the `dokkaa rollout restart` this spec rolled out for. */
      restartedAt: t.string,
      /** The container's security options (docs/manifest.md), each only when given. */
      user: t.string,
      readOnlyRootfs: t.literal(true),
      /** Without `CAP_`, once each, sorted. */
      capAdd: t.array(t.string),
      capDrop: t.array(t.string),
    }),
  ],
  'ManifestSpec',
);
export type ManifestSpec = t.TypeOf<typeof ManifestSpec>;

export type DecodeResult = { ok: true; spec: ManifestSpec } | { ok: false; errors: string[] };

/**
 * Parses and validates a manifest's JSON text; never throws. With `name`, the app and
 * manifest names from its key are checked too (they must be DNS labels).
 */
export function decodeManifest(text: string, app: string, name?: string): DecodeResult {
  const badNames = [['app', app], ...(name === undefined ? [] : [['name', name]])]
    .filter(([, v]) => !isDnsLabel(v!))
    .map(([what, v]) => `(key) ${what}: expected a DNS label (a-z, 0-9 and "-", at most 63 characters), got ${JSON.stringify(v)}`);
  if (badNames.length > 0) return { ok: false, errors: badNames };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [`(manifest): expected JSON, got ${(e as Error).message}`] };
  }
  const decoded = Manifest.decode(json);
  if (isLeft(decoded)) return { ok: false, errors: formatErrors(decoded.left) };
  if (decoded.right.mode === 'global' && decoded.right.scale !== undefined) {
    return { ok: false, errors: [`scale: expected no scale with mode "global" (one replica per matching node), got ${decoded.right.scale}`] };
  }
  const spec = normalize(decoded.right, app);
  const errors = volumeErrors(spec.volumes ?? {}, spec.update.order, spec.mode === 'global');
  return errors.length ? { ok: false, errors } : { ok: true, spec };
}

function normalize(m: Manifest, app: string): ManifestSpec {
  const services: Record<string, ServiceSpec> = {};
  for (const [name, decl] of Object.entries(m.services ?? {})) {
    services[name] =
      typeof decl === 'number'
        ? { port: decl, protocol: 'tcp' }
        : {
            port: decl.port,
            protocol: decl.protocol ?? 'tcp',
            ...(decl.role ? { role: decl.role } : {}),
            // Only when given: a spec without them hashes as before (no restart on upgrade).
            ...(decl.hosts?.length ? { hosts: decl.hosts.map((h) => h.toLowerCase()) } : {}),
            ...(decl.httpsRedirect ? { httpsRedirect: true } : {}),
            ...(decl.proxyProtocol ? { proxyProtocol: true } : {}),
          };
  }
  return {
    image: withDefaultTag(m.image),
    // The original treated 0/absent as 1; we keep absent = 1 but honour an explicit 0.
    scale: m.scale ?? 1,
    ...(m.command ? { command: [...m.command] } : {}),
    env: { ...(m.env ?? {}) },
    services,
    links: (m.links ?? []).map((l) => parseLink(l, app)),
    restart: m.restart ?? 'always',
    constraints: { ...(m.constraints ?? {}) },
    ...(m.health ? { health: normalizeHealth(m.health) } : {}),
    update: normalizeUpdate(m.update),
    stopGracePeriodMs: m.stopGracePeriod ?? 10_000,
    // Only when given: a spec without limits hashes as before (no restart on upgrade).
    ...(m.resources && (m.resources.cpus !== undefined || m.resources.memory !== undefined)
      ? { resources: { ...(m.resources.cpus !== undefined ? { cpus: m.resources.cpus } : {}), ...(m.resources.memory !== undefined ? { memoryBytes: m.resources.memory } : {}) } }
      : {}),
    ...(m.mode === 'global' ? { mode: 'global' as const } : {}),
    ...(m.placement && Object.keys(m.placement).length ? { placement: { ...m.placement } } : {}),
    // Only when given: a spec without them hashes as before.
    ...(m.secrets && Object.keys(m.secrets).length ? { secrets: { ...m.secrets } } : {}),
    ...(m.configs && Object.keys(m.configs).length ? { configs: { ...m.configs } } : {}),
    // Only when given: a spec without volumes hashes as before (no restart on upgrade).
    ...(m.volumes && Object.keys(m.volumes).length ? { volumes: Object.fromEntries(Object.entries(m.volumes).map(([k, v]) => [k, normalizeVolume(v)])) } : {}),
    ...(m.volumeLoss === 'reschedule' ? { volumeLoss: 'reschedule' as const } : {}),
    // Only when given: a spec without them hashes as before (no restart on upgrade).
    ...(m.user !== undefined ? { user: m.user } : {}),
    ...(m.readOnlyRootfs ? { readOnlyRootfs: true as const } : {}),
    ...(m.capAdd?.length ? { capAdd: normalizeCapabilities(m.capAdd) } : {}),
    ...(m.capDrop?.length ? { capDrop: normalizeCapabilities(m.capDrop) } : {}),
  };
}

/** The secrets a spec uses, as files or in env, sorted and once each. */
export function secretsUsed(spec: Pick<ManifestSpec, 'env' | 'secrets'>): string[] {
  const fromEnv = Object.values(spec.env).flatMap((v) => (typeof v === 'string' ? [] : [v.secret]));
  return [...new Set([...Object.keys(spec.secrets ?? {}), ...fromEnv])].sort();
}

/** The configs a spec uses, sorted. */
export function configsUsed(spec: Pick<ManifestSpec, 'configs'>): string[] {
  return Object.keys(spec.configs ?? {}).sort();
}

export function parseLink(ref: string, app: string): LinkSpec {
  const parts = ref.split('/');
  return parts.length === 2 ? { app: parts[0]!, service: parts[1]! } : { app, service: parts[0]! };
}

/** `nginx` -> `nginx:latest`; leaves tags, digests and registry ports alone. */
export function withDefaultTag(image: string): string {
  if (image.includes('@')) return image;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? image : `${image}:latest`;
}

/**
 * Hashes by spec object: specs are never mutated (a pin or a version makes a new one), and
 * the scheduler and status summary hash the informer's spec of a manifest on every
 * reconcile, a canonical JSON and a SHA-256 each time. Weak: a spec gone goes with it.
 */
const templateHashes = new WeakMap<ManifestSpec, string>();

/**
 * Hash of what makes a replica's container: everything but scale, constraints, the
 * update policy, the mode, the placement and volumeLoss, so changing those never replaces
 * a running container.
 */
export function templateHash(spec: ManifestSpec): string {
  let hash = templateHashes.get(spec);
  if (hash === undefined) {
    const { scale: _scale, constraints: _constraints, update: _update, mode: _mode, placement: _placement, volumeLoss: _volumeLoss, ...template } = spec;
    hash = shortHash(template);
    templateHashes.set(spec, hash);
  }
  return hash;
}
