import { DNS_DOMAIN } from './dns-names.js';

/**
 * The etcd key layout, under a prefix (default `/dokkaa`). Every controller builds and
 * parses keys here and nowhere else. See docs/keys.md.
 */
export class Keys {
  readonly root: string;

  constructor(prefix = '/dokkaa') {
    this.root = prefix.replace(/\/+$/, '');
  }

  /** Every key of this cluster. */
  get all(): string {
    return `${this.root}/`;
  }
  /** The first segment of a key of this cluster (`apps`, `nodes`, `status`...). */
  parseSection(key: string): string | undefined {
    return matchUnder(this.all, key, /^([^/]*)/)?.[1];
  }

  // apps/<app>/<name>/manifest: written by users.
  get apps(): string {
    return `${this.root}/apps/`;
  }
  manifest(app: string, name: string): string {
    return `${this.apps}${app}/${name}/manifest`;
  }
  parseManifest(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.apps, key, /^([^/]+)\/([^/]+)\/manifest$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // nodes/<node>: each host's record, held by its lease.
  get nodes(): string {
    return `${this.root}/nodes/`;
  }
  node(node: string): string {
    return `${this.nodes}${node}`;
  }
  parseNode(key: string): string | undefined {
    return matchUnder(this.nodes, key, /^([^/]+)$/)?.[1];
  }

  // maintenance/<node>: cordon and drain, written by admins (`dokkaa cordon`, `drain`).
  get maintenance(): string {
    return `${this.root}/maintenance/`;
  }
  nodeMaintenance(node: string): string {
    return `${this.maintenance}${node}`;
  }
  parseMaintenance(key: string): string | undefined {
    return matchUnder(this.maintenance, key, /^([^/]+)$/)?.[1];
  }

  // moves/<app>/<name>: replica moves requested by `dokkaa rebalance`, done by the scheduler.
  get moves(): string {
    return `${this.root}/moves/`;
  }
  manifestMoves(app: string, name: string): string {
    return `${this.moves}${app}/${name}`;
  }
  parseMoves(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.moves, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // placements/<node>/<app>/<name>/<replica>: the scheduler's decisions. A replica index
  // parses only as placement() spells it (no `01`, nothing past 9 digits): a key written
  // otherwise is not this record, and code that rebuilds the key from it must find it again.
  get placements(): string {
    return `${this.root}/placements/`;
  }
  nodePlacements(node: string): string {
    return `${this.placements}${node}/`;
  }
  placement(node: string, app: string, name: string, replica: number): string {
    return `${this.placements}${node}/${app}/${name}/${replica}`;
  }
  parsePlacement(key: string): { node: string; app: string; name: string; replica: number } | undefined {
    const m = matchUnder(this.placements, key, /^([^/]+)\/([^/]+)\/([^/]+)\/(0|[1-9]\d{0,8})$/);
    return m ? { node: m[1]!, app: m[2]!, name: m[3]!, replica: Number(m[4]) } : undefined;
  }

  // volumes/<node>/<app>/<name>/<replica>: a replica's volume set on a node (scheduler writes; not leased).
  get volumes(): string {
    return `${this.root}/volumes/`;
  }
  nodeVolumes(node: string): string {
    return `${this.volumes}${node}/`;
  }
  volumeSet(node: string, app: string, name: string, replica: number): string {
    return `${this.volumes}${node}/${app}/${name}/${replica}`;
  }
  parseVolumeSet(key: string): { node: string; app: string; name: string; replica: number } | undefined {
    const m = matchUnder(this.volumes, key, /^([^/]+)\/([^/]+)\/([^/]+)\/(0|[1-9]\d{0,8})$/);
    return m ? { node: m[1]!, app: m[2]!, name: m[3]!, replica: Number(m[4]) } : undefined;
  }

  // node-replicas/<node>/<app>/<name>/<replica>: what a host observes, held by its lease.
  // Under the host's own prefix, so that its etcd role writes only its own (docs/security.md).
  get replicas(): string {
    return `${this.root}/node-replicas/`;
  }
  nodeReplicas(node: string): string {
    return `${this.replicas}${node}/`;
  }
  replica(node: string, app: string, name: string, replica: number): string {
    return `${this.replicas}${node}/${app}/${name}/${replica}`;
  }
  parseReplica(key: string): { node: string; app: string; name: string; replica: number } | undefined {
    const m = matchUnder(this.replicas, key, /^([^/]+)\/([^/]+)\/([^/]+)\/(0|[1-9]\d{0,8})$/);
    return m ? { node: m[1]!, app: m[2]!, name: m[3]!, replica: Number(m[4]) } : undefined;
  }

  // node-endpoints/<node>/<app>/<service>/<endpoint>: where a service can be reached, held by the host's lease.
  get endpoints(): string {
    return `${this.root}/node-endpoints/`;
  }
  nodeEndpoints(node: string): string {
    return `${this.endpoints}${node}/`;
  }
  nodeAppEndpoints(node: string, app: string): string {
    return `${this.endpoints}${node}/${app}/`;
  }
  endpoint(node: string, app: string, service: string, endpoint: string): string {
    return `${this.endpoints}${node}/${app}/${service}/${endpoint}`;
  }
  /** The `<endpoint>` segment for one replica on one host: `<name>.<replica>.<node>`. */
  endpointId(name: string, replica: number, node: string): string {
    return `${name}.${replica}.${node}`;
  }
  parseEndpoint(key: string): { node: string; app: string; service: string; endpoint: string } | undefined {
    const m = matchUnder(this.endpoints, key, /^([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { node: m[1]!, app: m[2]!, service: m[3]!, endpoint: m[4]! } : undefined;
  }

  // service-endpoints/<app>/<service>/<endpoint>: node-endpoints/ by service (the same records
  // at the same `<endpoint>`), kept by the controllers' endpoint index, for the hosts: a host
  // watches only the apps it needs (a host may write only under its own node's prefixes).
  get serviceEndpoints(): string {
    return `${this.root}/service-endpoints/`;
  }
  appServiceEndpoints(app: string): string {
    return `${this.serviceEndpoints}${app}/`;
  }
  serviceEndpoint(app: string, service: string, endpoint: string): string {
    return `${this.serviceEndpoints}${app}/${service}/${endpoint}`;
  }
  parseServiceEndpoint(key: string): { app: string; service: string; endpoint: string } | undefined {
    const m = matchUnder(this.serviceEndpoints, key, /^([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, service: m[2]!, endpoint: m[3]! } : undefined;
  }

  // routes/<app>/<name>: the admitted version of a manifest with a web service, for the routers.
  get routes(): string {
    return `${this.root}/routes/`;
  }
  route(app: string, name: string): string {
    return `${this.routes}${app}/${name}`;
  }
  parseRoute(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.routes, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // links/<app>/<name>: the link injector's resolved env for a manifest.
  get links(): string {
    return `${this.root}/links/`;
  }
  link(app: string, name: string): string {
    return `${this.links}${app}/${name}`;
  }
  parseLink(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.links, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // ports/<app>/<service>: the link port allocated cluster-wide to a linked service.
  get ports(): string {
    return `${this.root}/ports/`;
  }
  port(app: string, service: string): string {
    return `${this.ports}${app}/${service}`;
  }
  parsePort(key: string): { app: string; service: string } | undefined {
    const m = matchUnder(this.ports, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, service: m[2]! } : undefined;
  }

  // portalloc/<port>: the reverse of ports/, so that a port is handed out once (value `app/service`).
  get portAllocs(): string {
    return `${this.root}/portalloc/`;
  }
  portAlloc(port: number): string {
    return `${this.portAllocs}${port}`;
  }
  parsePortAlloc(key: string): number | undefined {
    // Only the spelling portAlloc() makes: `01` or a number past 65535 is another key, which
    // the allocator's transactions (conditioned on portAlloc(port)) could never match.
    const m = matchUnder(this.portAllocs, key, /^(0|[1-9]\d{0,4})$/);
    return m && Number(m[1]) <= 65535 ? Number(m[1]) : undefined;
  }

  // router/config: the cluster's router settings (`dokkaa router set`).
  get routerConfig(): string {
    return `${this.root}/router/config`;
  }

  // policy: the cluster's admission policy (`dokkaa policy set`), written by admins only.
  get policy(): string {
    return `${this.root}/policy`;
  }

  // certs/<host>: TLS certificates the router serves by SNI (`dokkaa cert add`).
  get certs(): string {
    return `${this.root}/certs/`;
  }
  cert(host: string): string {
    return `${this.certs}${host}`;
  }
  parseCert(key: string): string | undefined {
    return matchUnder(this.certs, key, /^([^/]+)$/)?.[1];
  }

  // status/<app>/<name>: what users read.
  get statuses(): string {
    return `${this.root}/status/`;
  }
  status(app: string, name: string): string {
    return `${this.statuses}${app}/${name}`;
  }
  parseStatus(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.statuses, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // node-events/<source>/<app>/<name>/<id>: events, under the writing process's node name, on an expiring lease.
  get events(): string {
    return `${this.root}/node-events/`;
  }
  nodeEvents(source: string): string {
    return `${this.events}${source}/`;
  }
  event(source: string, app: string, name: string, id: string): string {
    return `${this.events}${source}/${app}/${name}/${id}`;
  }
  parseEvent(key: string): { source: string; app: string; name: string; id: string } | undefined {
    const m = matchUnder(this.events, key, /^([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { source: m[1]!, app: m[2]!, name: m[3]!, id: m[4]! } : undefined;
  }
  /** The `<id>` segment of an event: time (ms, zero-padded so keys sort by time), writer, sequence number. */
  eventId(timeMs: number, source: string, seq: number): string {
    return `${String(timeMs).padStart(15, '0')}-${source}-${seq}`;
  }

  // rollouts/<app>/<name>: the scheduler's rolling-update state and revision history.
  get rollouts(): string {
    return `${this.root}/rollouts/`;
  }
  rollout(app: string, name: string): string {
    return `${this.rollouts}${app}/${name}`;
  }
  parseRollout(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.rollouts, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // registries/<host>: credentials to pull from a private registry (`dokkaa registry login`), sealed to the cluster key.
  get registries(): string {
    return `${this.root}/registries/`;
  }
  registry(host: string): string {
    return `${this.registries}${host}`;
  }
  parseRegistry(key: string): string | undefined {
    return matchUnder(this.registries, key, /^([^/]+)$/)?.[1];
  }

  // secrets/<app>/<name>: a secret's value sealed to the cluster key (`dokkaa secret set`).
  get secrets(): string {
    return `${this.root}/secrets/`;
  }
  secret(app: string, name: string): string {
    return `${this.secrets}${app}/${name}`;
  }
  parseSecret(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.secrets, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // configs/<app>/<name>: a config file's content, in the clear (`dokkaa config set`).
  get configs(): string {
    return `${this.root}/configs/`;
  }
  config(app: string, name: string): string {
    return `${this.configs}${app}/${name}`;
  }
  parseConfig(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.configs, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // sealed/<node>/<app>/<name>: a secret re-sealed to one node's key by the secrets controller.
  get sealed(): string {
    return `${this.root}/sealed/`;
  }
  nodeSealed(node: string): string {
    return `${this.sealed}${node}/`;
  }
  sealedCopy(node: string, app: string, name: string): string {
    return `${this.sealed}${node}/${app}/${name}`;
  }
  parseSealedCopy(key: string): { node: string; app: string; name: string } | undefined {
    const m = matchUnder(this.sealed, key, /^([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { node: m[1]!, app: m[2]!, name: m[3]! } : undefined;
  }

  // sealed-registries/<node>/<host>: a registry's credentials re-sealed to one node's key by the secrets controller.
  get sealedRegistries(): string {
    return `${this.root}/sealed-registries/`;
  }
  nodeSealedRegistries(node: string): string {
    return `${this.sealedRegistries}${node}/`;
  }
  sealedRegistry(node: string, host: string): string {
    return `${this.sealedRegistries}${node}/${host}`;
  }
  parseSealedRegistry(key: string): { node: string; host: string } | undefined {
    const m = matchUnder(this.sealedRegistries, key, /^([^/]+)\/([^/]+)$/);
    return m ? { node: m[1]!, host: m[2]! } : undefined;
  }

  // cluster-key: the public half of the key secrets are sealed to (`dokkaa cluster-key init`).
  get clusterKey(): string {
    return `${this.root}/cluster-key`;
  }

  // restarts/<app>/<name>: `dokkaa rollout restart` asks the scheduler to pin the image again and roll every replica.
  get restarts(): string {
    return `${this.root}/restarts/`;
  }
  restart(app: string, name: string): string {
    return `${this.restarts}${app}/${name}`;
  }
  parseRestart(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.restarts, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // prepull/<app>/<name>: a request that the hosts which may run a manifest pull its image (`dokkaa pull`).
  get prepulls(): string {
    return `${this.root}/prepull/`;
  }
  prepull(app: string, name: string): string {
    return `${this.prepulls}${app}/${name}`;
  }
  parsePrepull(key: string): { app: string; name: string } | undefined {
    const m = matchUnder(this.prepulls, key, /^([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]! } : undefined;
  }

  // node-prepulled/<node>/<app>/<name>: how a host's pre-pull of the manifest's image went (on the host's lease).
  get prepulled(): string {
    return `${this.root}/node-prepulled/`;
  }
  nodePrepulled(node: string): string {
    return `${this.prepulled}${node}/`;
  }
  prepulledAnswer(node: string, app: string, name: string): string {
    return `${this.prepulled}${node}/${app}/${name}`;
  }
  parsePrepulled(key: string): { node: string; app: string; name: string } | undefined {
    const m = matchUnder(this.prepulled, key, /^([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { node: m[1]!, app: m[2]!, name: m[3]! } : undefined;
  }

  /**
   * The layout before per-node sections (hosts wrote these until 0.x): only the layout
   * migrator (controllers/migrator) reads them, to move what an old agent still writes.
   */
  get legacy(): LegacyKeys {
    return new LegacyKeys(this.root);
  }

  // election/controller: the controllers' leader election (a LeaderRecord, held by the leader's lease).
  get election(): string {
    return `${this.root}/election/`;
  }
  get leader(): string {
    return `${this.election}controller`;
  }
}

/** `re` matched against what follows `prefix` in `key`; undefined if the key is not under it. */
function matchUnder(prefix: string, key: string, re: RegExp): RegExpMatchArray | undefined {
  if (!key.startsWith(prefix)) return undefined;
  return key.slice(prefix.length).match(re) ?? undefined;
}

/** Host-written keys of the old layout, and how to parse them (see Keys.legacy). */
export class LegacyKeys {
  constructor(readonly root: string) {}

  /** replicas/<app>/<name>/<replica> */
  get replicas(): string {
    return `${this.root}/replicas/`;
  }
  /** services/<app>/<service>/<endpoint> */
  get services(): string {
    return `${this.root}/services/`;
  }
  /** events/<app>/<name>/<id> */
  get events(): string {
    return `${this.root}/events/`;
  }
  /** prepulled/<app>/<name>/<node> */
  get prepulled(): string {
    return `${this.root}/prepulled/`;
  }
  /** Every old-layout section, for the migrator's watches. */
  get sections(): string[] {
    return [this.replicas, this.services, this.events, this.prepulled];
  }
  parseReplica(key: string): { app: string; name: string; replica: number } | undefined {
    const m = matchUnder(this.replicas, key, /^([^/]+)\/([^/]+)\/(0|[1-9]\d{0,8})$/);
    return m ? { app: m[1]!, name: m[2]!, replica: Number(m[3]) } : undefined;
  }
  parseEndpoint(key: string): { app: string; service: string; endpoint: string } | undefined {
    const m = matchUnder(this.services, key, /^([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, service: m[2]!, endpoint: m[3]! } : undefined;
  }
  parseEvent(key: string): { app: string; name: string; id: string } | undefined {
    const m = matchUnder(this.events, key, /^([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]!, id: m[3]! } : undefined;
  }
  parsePrepulled(key: string): { app: string; name: string; node: string } | undefined {
    const m = matchUnder(this.prepulled, key, /^([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, name: m[2]!, node: m[3]! } : undefined;
  }
}

/**
 * SkyDNS's etcd layout (also read by CoreDNS's etcd plugin): a name's labels reversed as
 * path segments under a prefix (default `/skydns`), so `x.nginx.shop.dokkaa.local` is
 * `<prefix>/local/dokkaa/shop/nginx/x`, with a SkyDnsRecord `{"host": ip, "port": p}`.
 */
export class SkyDnsKeys {
  readonly root: string;

  constructor(prefix = '/skydns') {
    this.root = prefix.replace(/\/+$/, '');
  }

  /** Every record of the domain. */
  get domain(): string {
    return `${this.root}/${DNS_DOMAIN.split('.').reverse().join('/')}/`;
  }
  app(app: string): string {
    return `${this.domain}${app}/`;
  }
  service(app: string, service: string): string {
    return `${this.domain}${app}/${service}/`;
  }
  endpoint(app: string, service: string, label: string): string {
    return `${this.domain}${app}/${service}/${label}`;
  }
  parseEndpoint(key: string): { app: string; service: string; label: string } | undefined {
    const m = matchUnder(this.domain, key, /^([^/]+)\/([^/]+)\/([^/]+)$/);
    return m ? { app: m[1]!, service: m[2]!, label: m[3]! } : undefined;
  }
}

/** `app/name`: the work-queue key of a manifest. */
export function manifestId(app: string, name: string): string {
  return `${app}/${name}`;
}

/** `app/name/replica`: the work-queue key of one replica. */
export function replicaId(app: string, name: string, replica: number): string {
  return `${app}/${name}/${replica}`;
}

export function parseManifestId(id: string): { app: string; name: string } {
  const [app = '', name = ''] = id.split('/');
  return { app, name };
}

export function parseReplicaId(id: string): { app: string; name: string; replica: number } {
  const [app = '', name = '', replica = '0'] = id.split('/');
  return { app, name, replica: Number(replica) };
}

/** `app/service`: a service across its manifests (what a link names; `portalloc/` values). */
export function serviceId(app: string, service: string): string {
  return `${app}/${service}`;
}

export function parseServiceId(id: string): { app: string; service: string } | undefined {
  const m = /^([^/]+)\/([^/]+)$/.exec(id);
  return m ? { app: m[1]!, service: m[2]! } : undefined;
}
