import { manifestId, replicaId, serviceId, type Keys, type SkyDnsKeys } from '../../api/keys.js';
import { configsUsed, decodeManifest, secretsUsed, type DecodeResult } from '../../api/manifest.js';
import * as t from 'io-ts';
import { CertRecord, checkRecord, ConfigRecord, type DecodedRecord, PolicyRecord, EndpointRecord, LinkRecord, MaintenanceRecord, MovesRecord, NodeRecord, PlacementRecord, PlacementSummary, PortRecord, PrepullRecord, RegistryRecord, RoutesRecord, ReplicaRecord, RestartRecord, RolloutRecord, RouterConfig, SealedCopyRecord, SecretRecord, StatusRecord, VolumeSetRecord } from '../../api/records.js';
import type { KeyValue } from '../etcd/kv-store.js';
import type { ResourceSpec } from './informer-factory.js';
import type { Cached, Decoder, InformerCache, InformerEvent } from './shared-informer.js';

/**
 * The informers the controllers share, one per prefix: what each prefix holds, how its
 * values decode, and the indexes consumers look things up by. Index names are constants so
 * that map functions and reconcilers agree on them.
 */

export const BY_MANIFEST = 'manifest';
export const BY_NODE = 'node';
export const BY_SERVICE = 'service';
export const BY_LINK_TARGET = 'linkTarget';
export const BY_REPLICA = 'replica';
/** Manifests by the secrets and configs they use: `secret:<app>/<name>`, `config:<app>/<name>` (see fileId). */
export const BY_FILE = 'file';
/** Records of one app. */
export const BY_APP = 'app';

/** The BY_FILE index value of a secret or config of an app. */
export function fileId(kind: 'secret' | 'config', app: string, name: string): string {
  return `${kind}:${app}/${name}`;
}

/** A manifest key's decoded value: valid or not, a manifest is always in the cache (its status reports why). */
export interface ManifestEntry {
  app: string;
  name: string;
  result: DecodeResult;
  /** The manifest as the user wrote it (a rollout records it for `dokkaa rollback`). */
  text: string;
}

/** A record of the codec, at a key that `parse` reads (and `check` may compare with the record). */
function recordAt<K, T>(what: string, codec: t.Decoder<unknown, T>, parse: (key: string) => K | undefined, check: (record: T, at: K) => boolean = () => true): Decoder<T & { at: K }> {
  return (kv: KeyValue) => {
    const at = parse(kv.key);
    if (at === undefined) return { ok: false, error: `not a ${what} key` };
    const r = checkRecord(codec, kv.value);
    if (!r.ok) return r;
    if (!check(r.value, at)) return { ok: false, error: `${what}: the record does not match its key` };
    return { ok: true, value: { ...r.value, at } };
  };
}

/** A decoder that also keeps the stored text: for records their writer compares before writing. */
function withText<T>(decode: Decoder<T>): Decoder<T & { text: string }> {
  return (kv: KeyValue) => {
    const r = decode(kv);
    return r.ok ? { ok: true, value: { ...r.value, text: kv.value } } : r;
  };
}

/** The policy key's value, decoded or not. */
export interface PolicyEntry {
  at: string;
  result: DecodedRecord<PolicyRecord>;
}

type AppName = { app: string; name: string };
type ReplicaAt = AppName & { replica: number };
const byManifest = <T extends { at: AppName }>(c: Cached<T>) => [manifestId(c.value.at.app, c.value.at.name)];

export type Placement = PlacementSummary & { at: ReplicaAt & { node: string } };
/** A placement with its spec: only a host's own placements are kept so (see nodePlacements). */
export type NodePlacement = PlacementRecord & { at: ReplicaAt & { node: string } };
export type Replica = ReplicaRecord & { at: ReplicaAt & { node: string } };
export type Endpoint = EndpointRecord & { at: { node: string; app: string; service: string; endpoint: string } };
/** An endpoint in the index by service (`service-endpoints/`), with its stored text: the endpoint index compares before writing. */
export type IndexedEndpoint = EndpointRecord & { at: { app: string; service: string; endpoint: string }; text: string };
export type Link = LinkRecord & { at: AppName };
/** An admitted web manifest, decoded once here for every render of the router. */
export type Routes = RoutesRecord & { at: AppName; result: DecodeResult };
export type Port = PortRecord & { at: { app: string; service: string } };
export type Node = NodeRecord & { at: string };
export type Maintenance = MaintenanceRecord & { at: string };
/** A status record, with its stored text: the status controller compares what it would write with it. */
export type Status = StatusRecord & { at: AppName; text: string };
/** A rollout record, with its stored text (the scheduler writes it only when it changes). */
export type Rollout = RolloutRecord & { at: AppName; text: string };
export type Moves = MovesRecord & { at: AppName };
export type Secret = SecretRecord & { at: AppName };
export type ConfigFile = ConfigRecord & { at: AppName };
export type SealedCopy = SealedCopyRecord & { at: AppName & { node: string } };
export type SealedRegistry = SealedCopyRecord & { at: { node: string; host: string } };
export type Registry = RegistryRecord & { at: { host: string } };
export type VolumeSet = VolumeSetRecord & { at: ReplicaAt & { node: string } };
export type Restart = RestartRecord & { at: AppName };
export type Prepull = PrepullRecord & { at: AppName };
/** A SkyDNS record as stored: its text, compared as is (a record that does not decode is replaced, not skipped). */
export type DnsRecord = { at: { app: string; service: string; label: string }; text: string };

export const Resources = {
  manifests(keys: Keys): ResourceSpec<ManifestEntry> {
    return {
      kind: 'manifest',
      prefix: keys.apps,
      decode: (kv) => {
        const at = keys.parseManifest(kv.key);
        return at ? { ok: true, value: { ...at, result: decodeManifest(kv.value, at.app, at.name), text: kv.value } } : { ok: false, error: 'not a manifest key' };
      },
      indexers: {
        [BY_LINK_TARGET]: (c) => (c.value.result.ok ? c.value.result.spec.links.map((l) => serviceId(l.app, l.service)) : []),
        [BY_FILE]: (c) => {
          const { app, result } = c.value;
          if (!result.ok) return [];
          return [...secretsUsed(result.spec).map((s) => fileId('secret', app, s)), ...configsUsed(result.spec).map((n) => fileId('config', app, n))];
        },
        [BY_APP]: (c) => [c.value.app],
      },
    };
  },

  nodes(keys: Keys): ResourceSpec<Node> {
    return { kind: 'node', prefix: keys.nodes, decode: recordAt<string, NodeRecord>('node', NodeRecord, (k) => keys.parseNode(k)) };
  },

  /** `maintenance/<node>`: cordoned and draining nodes. */
  maintenance(keys: Keys): ResourceSpec<Maintenance> {
    return { kind: 'maintenance', prefix: keys.maintenance, decode: recordAt<string, MaintenanceRecord>('maintenance', MaintenanceRecord, (k) => keys.parseMaintenance(k)) };
  },

  /** Every placement (the scheduler, the status controller). */
  placements(keys: Keys): ResourceSpec<Placement> {
    return {
      kind: 'placement',
      prefix: keys.placements,
      decode: recordAt<ReplicaAt & { node: string }, PlacementSummary>('placement', PlacementSummary, (k) => keys.parsePlacement(k)),
      indexers: { [BY_MANIFEST]: byManifest },
    };
  },

  /**
   * One node's placements, with their specs (its agent): the node runner reconciles from
   * this cache instead of reading each placement from etcd. A host holds only its own
   * placements, so the specs stay few; the cluster-wide cache keeps summaries.
   */
  nodePlacements(keys: Keys, node: string): ResourceSpec<NodePlacement> {
    return {
      kind: 'node-placement',
      prefix: keys.nodePlacements(node),
      decode: recordAt<ReplicaAt & { node: string }, PlacementRecord>('placement', PlacementRecord, (k) => keys.parsePlacement(k)),
      indexers: { [BY_MANIFEST]: byManifest },
    };
  },

  /** Every host's replica records (`node-replicas/`): the scheduler, the status controller. */
  replicas(keys: Keys): ResourceSpec<Replica> {
    return {
      kind: 'replica',
      prefix: keys.replicas,
      // A record is its host's: one under another host's prefix is not trusted.
      decode: recordAt<ReplicaAt & { node: string }, ReplicaRecord>('replica', ReplicaRecord, (k) => keys.parseReplica(k), (r, at) => r.node === at.node),
      indexers: { [BY_MANIFEST]: byManifest, [BY_NODE]: (c) => [c.value.node] },
    };
  },

  /** One host's replica records (its agent). */
  nodeReplicas(keys: Keys, node: string): ResourceSpec<Replica> {
    return { ...Resources.replicas(keys), prefix: keys.nodeReplicas(node) };
  },

  /** Every host's endpoints (`node-endpoints/`): ambassadors, DNS, routers, the link injector. */
  endpoints(keys: Keys): ResourceSpec<Endpoint> {
    return {
      kind: 'endpoint',
      prefix: keys.endpoints,
      decode: recordAt<{ node: string; app: string; service: string; endpoint: string }, EndpointRecord>('endpoint', EndpointRecord, (k) => keys.parseEndpoint(k), (r, at) => r.node === at.node),
      indexers: {
        [BY_SERVICE]: (c) => [serviceId(c.value.at.app, c.value.at.service)],
        [BY_NODE]: (c) => [c.value.node],
        [BY_REPLICA]: (c) => [replicaId(c.value.app, c.value.name, c.value.replica)],
      },
    };
  },

  /** One host's endpoints (its service registrar). */
  nodeEndpoints(keys: Keys, node: string): ResourceSpec<Endpoint> {
    return { ...Resources.endpoints(keys), prefix: keys.nodeEndpoints(node) };
  },

  /**
   * `service-endpoints/` (with `app`, only that app's): every host's endpoints by service, as
   * the endpoint index keeps them; each host's ambassador, DNS server and router watch the
   * apps they need (src/agent/app-endpoints.ts).
   */
  serviceEndpoints(keys: Keys, app?: string): ResourceSpec<IndexedEndpoint> {
    const check = (r: EndpointRecord, at: { app: string; endpoint: string }) => r.app === at.app && keys.endpointId(r.name, r.replica, r.node) === at.endpoint;
    return {
      kind: 'service-endpoint',
      prefix: app === undefined ? keys.serviceEndpoints : keys.appServiceEndpoints(app),
      decode: withText(recordAt('service endpoint', EndpointRecord, (k) => keys.parseServiceEndpoint(k), check)),
      indexers: { [BY_SERVICE]: (c) => [serviceId(c.value.at.app, c.value.at.service)] },
    };
  },

  /** `routes/<app>/<name>`: the admitted web manifests (every host's router). */
  routes(keys: Keys): ResourceSpec<Routes> {
    const record = recordAt<AppName, RoutesRecord>('routes', RoutesRecord, (k) => keys.parseRoute(k));
    return {
      kind: 'routes',
      prefix: keys.routes,
      decode: (kv) => {
        const r = record(kv);
        return r.ok ? { ok: true, value: { ...r.value, result: decodeManifest(r.value.manifest, r.value.at.app, r.value.at.name) } } : r;
      },
    };
  },

  links(keys: Keys): ResourceSpec<Link> {
    return { kind: 'link', prefix: keys.links, decode: recordAt<AppName, LinkRecord>('link', LinkRecord, (k) => keys.parseLink(k)) };
  },

  ports(keys: Keys): ResourceSpec<Port> {
    return { kind: 'port', prefix: keys.ports, decode: recordAt<{ app: string; service: string }, PortRecord>('port', PortRecord, (k) => keys.parsePort(k)) };
  },

  /** `portalloc/<port>` = `app/service`: which service holds a link port. */
  portAllocs(keys: Keys): ResourceSpec<{ at: number; owner: string }> {
    return {
      kind: 'portalloc',
      prefix: keys.portAllocs,
      decode: (kv) => {
        const at = keys.parsePortAlloc(kv.key);
        return at === undefined ? { ok: false, error: 'not a port allocation key' } : { ok: true, value: { at, owner: kv.value } };
      },
    };
  },

  /** `router/config`, one key: the cluster's router settings. */
  routerConfig(keys: Keys): ResourceSpec<RouterConfig & { at: string }> {
    return { kind: 'router-config', prefix: keys.routerConfig, decode: recordAt<string, RouterConfig>('router config', RouterConfig, (k) => (k === keys.routerConfig ? k : undefined)) };
  },

  /**
   * `policy`, one key: the cluster's admission policy. An invalid record stays in the cache
   * with its error (the scheduler keeps the last valid policy it saw, and says why).
   */
  policy(keys: Keys): ResourceSpec<PolicyEntry> {
    return {
      kind: 'policy',
      prefix: keys.policy,
      decode: (kv) => (kv.key === keys.policy ? { ok: true, value: { at: kv.key, result: checkRecord(PolicyRecord, kv.value) } } : { ok: false, error: 'not the policy key' }),
    };
  },

  /** `certs/<host>`: certificates the router serves. */
  certs(keys: Keys): ResourceSpec<CertRecord & { at: string }> {
    return { kind: 'cert', prefix: keys.certs, decode: recordAt<string, CertRecord>('certificate', CertRecord, (k) => keys.parseCert(k)) };
  },

  statuses(keys: Keys): ResourceSpec<Status> {
    return { kind: 'status', prefix: keys.statuses, decode: withText(recordAt<AppName, StatusRecord>('status', StatusRecord, (k) => keys.parseStatus(k))) };
  },

  /** `moves/<app>/<name>`: replica moves `dokkaa rebalance` asked for (the scheduler). */
  moves(keys: Keys): ResourceSpec<Moves> {
    return { kind: 'moves', prefix: keys.moves, decode: recordAt<AppName, MovesRecord>('moves', MovesRecord, (k) => keys.parseMoves(k)) };
  },

  /** `secrets/<app>/<name>`: secrets, sealed to the cluster key (the scheduler, the secrets controller). */
  secrets(keys: Keys): ResourceSpec<Secret> {
    return { kind: 'secret', prefix: keys.secrets, decode: recordAt<AppName, SecretRecord>('secret', SecretRecord, (k) => keys.parseSecret(k)) };
  },

  /** `configs/<app>/<name>`: config files (the scheduler). */
  configs(keys: Keys): ResourceSpec<ConfigFile> {
    return { kind: 'config', prefix: keys.configs, decode: recordAt<AppName, ConfigRecord>('config', ConfigRecord, (k) => keys.parseConfig(k)) };
  },

  /** `sealed/<node>/<app>/<name>`: every node's sealed copies (the secrets controller). */
  sealed(keys: Keys): ResourceSpec<SealedCopy> {
    return {
      kind: 'sealed',
      prefix: keys.sealed,
      decode: recordAt<AppName & { node: string }, SealedCopyRecord>('sealed copy', SealedCopyRecord, (k) => keys.parseSealedCopy(k)),
      indexers: { [BY_NODE]: (c) => [c.value.at.node] },
    };
  },

  /** One node's sealed copies (its agent). */
  nodeSealed(keys: Keys, node: string): ResourceSpec<SealedCopy> {
    return { ...Resources.sealed(keys), prefix: keys.nodeSealed(node) };
  },

  /** `registries/<host>`: stored registry credentials (the secrets controller). */
  registries(keys: Keys): ResourceSpec<Registry> {
    const at = (k: string) => {
      const host = keys.parseRegistry(k);
      return host === undefined ? undefined : { host };
    };
    return { kind: 'registry', prefix: keys.registries, decode: recordAt<{ host: string }, RegistryRecord>('registry', RegistryRecord, at) };
  },

  /** `sealed-registries/<node>/<host>`: every node's copies of registry credentials (the secrets controller). */
  sealedRegistries(keys: Keys): ResourceSpec<SealedRegistry> {
    return { kind: 'sealed-registry', prefix: keys.sealedRegistries, decode: recordAt<{ node: string; host: string }, SealedCopyRecord>('sealed registry', SealedCopyRecord, (k) => keys.parseSealedRegistry(k)) };
  },

  /** One node's copies of registry credentials (its agent). */
  nodeSealedRegistries(keys: Keys, node: string): ResourceSpec<SealedRegistry> {
    return { ...Resources.sealedRegistries(keys), prefix: keys.nodeSealedRegistries(node) };
  },

  /** `volumes/<node>/<app>/<name>/<replica>`: where replicas' volumes are (the scheduler, by manifest). */
  volumeSets(keys: Keys): ResourceSpec<VolumeSet> {
    return {
      kind: 'volume-set',
      prefix: keys.volumes,
      decode: recordAt<ReplicaAt & { node: string }, VolumeSetRecord>('volume set', VolumeSetRecord, (k) => keys.parseVolumeSet(k), (r, at) => r.app === at.app && r.name === at.name && r.replica === at.replica && r.node === at.node),
      indexers: { [BY_MANIFEST]: byManifest },
    };
  },

  /** One node's volume sets (its agent removes what `--purge` and `volume rm` ask for). */
  nodeVolumeSets(keys: Keys, node: string): ResourceSpec<VolumeSet> {
    return { ...Resources.volumeSets(keys), prefix: keys.nodeVolumes(node), indexers: {} };
  },

  /** `restarts/<app>/<name>`: `dokkaa rollout restart` (the scheduler). */
  restarts(keys: Keys): ResourceSpec<Restart> {
    return { kind: 'restart', prefix: keys.restarts, decode: recordAt<AppName, RestartRecord>('restart', RestartRecord, (k) => keys.parseRestart(k)) };
  },

  /** `prepull/<app>/<name>`: `dokkaa pull` (every agent). */
  prepulls(keys: Keys): ResourceSpec<Prepull> {
    return { kind: 'prepull', prefix: keys.prepulls, decode: recordAt<AppName, PrepullRecord>('prepull', PrepullRecord, (k) => keys.parsePrepull(k)) };
  },

  rollouts(keys: Keys): ResourceSpec<Rollout> {
    return { kind: 'rollout', prefix: keys.rollouts, decode: withText(recordAt<AppName, RolloutRecord>('rollout', RolloutRecord, (k) => keys.parseRollout(k))) };
  },
};

/** `<skydns>/local/dokkaa/<app>/<service>/<label>`: the DNS records the controllers
 * mirror from the endpoints. Outside the cluster's prefix, so not among `Resources`.
 */
export function dnsRecordsResource(skydns: SkyDnsKeys): ResourceSpec<DnsRecord> {
  return {
    kind: 'dns-record',
    prefix: skydns.domain,
    decode: (kv) => {
      const at = skydns.parseEndpoint(kv.key);
      return at ? { ok: true, value: { at, text: kv.value } } : { ok: false, error: 'not a SkyDNS record key' };
    },
    indexers: { [BY_SERVICE]: (c) => [serviceId(c.value.at.app, c.value.at.service)] },
  };
}

/** A cached record as stored: the value without the `at` its key adds. */
export function withoutAt<T extends { at: unknown }>(value: T): Omit<T, 'at'> {
  const { at: _at, ...record } = value;
  return record;
}

/** The manifest id (`app/name`) of a manifest in the manifests informer. */
export function entryId(c: Cached<ManifestEntry>): string {
  return manifestId(c.value.app, c.value.name);
}

/** The manifest id (`app/name`) a record of one manifest belongs to. */
export function manifestOf(c: Cached<{ at: AppName }>): string {
  return manifestId(c.value.at.app, c.value.at.name);
}

/** The manifest a change of one of its records concerns (a map function for `watches`). */
export function eventManifest<T extends { at: AppName }>(ev: InformerEvent<T>): string[] {
  return [manifestOf(ev.type === 'put' ? ev.obj : ev.old)];
}

/** The service (`app/service`) a change of one of its records concerns (an endpoint, a copy of one). */
export function eventService<T extends { at: { app: string; service: string } }>(ev: InformerEvent<T>): string[] {
  const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
  return [serviceId(at.app, at.service)];
}

/**
 * The manifest whose admitted version (its rollout's target) changed: what the link injector
 * and the route publisher follow; a rollout's progress alone concerns neither.
 */
export function targetChanged(ev: InformerEvent<Rollout>): string[] {
  return ev.type === 'put' && ev.old?.value.target?.revision === ev.obj.value.target?.revision ? [] : eventManifest(ev);
}

/**
 * Every host's replica records of the manifest `app/name`, from a `replicas` informer's
 * BY_MANIFEST index: what a listing of `node-replicas/` filtered by manifest would give
 * (records under a host's prefix that name another host are not in the cache), in the
 * listing's key order, in O(its replicas) instead of O(every replica in the cluster).
 */
export function manifestReplicas(replicas: InformerCache<Replica>, app: string, name: string): Replica[] {
  return replicas
    .byIndex(BY_MANIFEST, manifestId(app, name))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((c) => c.value);
}

/** Every host's endpoints of the service `app/service`, from an endpoints informer's BY_SERVICE index. */
export function serviceEndpoints<T extends EndpointRecord>(endpoints: InformerCache<T>, app: string, service: string): T[] {
  return endpoints.byIndex(BY_SERVICE, serviceId(app, service)).map((c) => c.value);
}

/** The replica id (`app/name/replica`) of a replica-level record. */
export function replicaOf(c: Cached<{ at: ReplicaAt }>): string {
  return replicaId(c.value.at.app, c.value.at.name, c.value.at.replica);
}
