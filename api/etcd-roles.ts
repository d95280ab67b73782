import type { Keys, SkyDnsKeys } from './keys.js';

/**
 * Who may do what in etcd (docs/security.md, "Roles"): etcd's own users and roles, the user
 * being the client certificate's CN. Pure: the layout in, the roles out; `dokkaa auth setup`
 * (src/etcd/auth-setup.ts) makes etcd match them.
 */

export type PermissionType = 'read' | 'write' | 'readwrite';

/** One etcd permission: the key range [key, rangeEnd), or the key alone when rangeEnd is absent. */
export interface Permission {
  type: PermissionType;
  key: string;
  rangeEnd?: string;
}

export interface RoleSpec {
  name: string;
  permissions: Permission[];
}

/** etcd's built-in role with every right (auth, members, all keys). */
export const ROOT_ROLE = 'root';
/** The administrators: users (`dokkaa apply`, `etcdctl`), given etcd's root role. */
export const ADMIN_USER = 'admin';
/** The controller processes (scheduler, link injector, status, secrets, layout migrator). */
export const CONTROLLER_USER = 'controller';

/** The user and role of one host's agent: `node-<node>`, its certificate's CN. */
export function nodeUser(node: string): string {
  return `node-${node}`;
}

/** The node a `node-<node>` user or role is for; undefined for any other name. */
export function parseNodeUser(name: string): string | undefined {
  return name.startsWith('node-') && name.length > 5 ? name.slice(5) : undefined;
}

/** The end of the range of every key starting with `prefix` (its last byte plus one). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i]! += 1;
      return end.toString('latin1');
    }
  }
  return '\0';
}

const under = (type: PermissionType, prefix: string): Permission => ({ type, key: prefix, rangeEnd: prefixEnd(prefix) });
const only = (type: PermissionType, key: string): Permission => ({ type, key });

/**
 * Keys under the prefix that only administrators write, with what the controllers may do
 * with each: etcd grants add up and never deny, so the controller's grant over the prefix
 * is cut around them. The place for such keys (e.g. a cluster policy written by admins).
 */
export function adminOnlyKeys(keys: Keys): { key: string; controller: 'read' | 'none' }[] {
  // The cluster key is made once by `dokkaa cluster-key init`, the admission policy by
  // `dokkaa policy set`: the controllers only read them (a stolen controller certificate
  // cannot loosen the policy).
  return [
    { key: keys.clusterKey, controller: 'read' },
    { key: keys.policy, controller: 'read' },
  ];
}

/** The controllers: everything under the prefix but the admin-only keys, and the SkyDNS records. */
export function controllerRole(keys: Keys, skydns: SkyDnsKeys): RoleSpec {
  const held = adminOnlyKeys(keys).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const permissions: Permission[] = [];
  let from = keys.all;
  for (const h of held) {
    if (h.key > from) permissions.push({ type: 'readwrite', key: from, rangeEnd: h.key });
    if (h.controller === 'read') permissions.push(only('read', h.key));
    from = `${h.key}\0`;
  }
  permissions.push({ type: 'readwrite', key: from, rangeEnd: prefixEnd(keys.all) });
  permissions.push(under('readwrite', skydns.domain));
  return { name: CONTROLLER_USER, permissions };
}

/**
 * One host's agent: it writes its node record and its own sections (replicas, endpoints,
 * events, pre-pull answers; volume sets placed on it, which it deletes once purged) and
 * reads only what its informers and reconciles read: its placements, the copies sealed
 * for it, and the cluster-wide records every host needs (manifests, links, ports, configs,
 * every host's endpoints by service for its ambassador, DNS server and router, pre-pull requests, router settings
 * and certificates, registry user names). Never another host's sealed copies, placements
 * or node record. Each range is one an informer watches or a reconcile reads.
 */
export function nodeRole(keys: Keys, node: string): RoleSpec {
  return {
    name: nodeUser(node),
    permissions: [
      only('readwrite', keys.node(node)),
      under('readwrite', keys.nodeReplicas(node)),
      under('readwrite', keys.nodeEndpoints(node)),
      under('readwrite', keys.nodeEvents(node)),
      under('readwrite', keys.nodePrepulled(node)),
      under('readwrite', keys.nodeVolumes(node)),
      under('read', keys.nodePlacements(node)),
      under('read', keys.nodeSealed(node)),
      under('read', keys.nodeSealedRegistries(node)),
      only('read', keys.nodeMaintenance(node)),
      // The registries rule for `dokkaa pull` requests (a placement's image passed admission).
      // A range: the informer lists and watches the key as a prefix.
      under('read', keys.policy),
      under('read', keys.apps),
      under('read', keys.links),
      under('read', keys.routes),
      under('read', keys.ports),
      under('read', keys.configs),
      // The index by service is what this version's hosts watch; `node-endpoints/` stays readable
      // for the hosts of the version before, during an upgrade.
      under('read', keys.serviceEndpoints),
      under('read', keys.endpoints),
      under('read', keys.prepulls),
      under('read', keys.routerConfig),
      under('read', keys.certs),
      under('read', keys.registries),
    ],
  };
}

/** A user and the roles it holds. Users have no password: etcd takes the name from the client certificate's CN. */
export interface UserSpec {
  name: string;
  roles: string[];
}

/** Every role and user of a cluster whose agents are `nodes`. */
export interface AuthPlan {
  roles: RoleSpec[];
  users: UserSpec[];
}

export function authPlan(keys: Keys, skydns: SkyDnsKeys, nodes: readonly string[]): AuthPlan {
  const nodeRoles = [...new Set(nodes)].sort().map((n) => nodeRole(keys, n));
  return {
    roles: [controllerRole(keys, skydns), ...nodeRoles],
    users: [
      // etcd refuses to enable auth without a `root` user holding the root role.
      { name: 'root', roles: [ROOT_ROLE] },
      { name: ADMIN_USER, roles: [ROOT_ROLE] },
      { name: CONTROLLER_USER, roles: [CONTROLLER_USER] },
      ...nodeRoles.map((r) => ({ name: r.name, roles: [r.name] })),
    ],
  };
}
