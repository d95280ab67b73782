import { authPlan } from '../api/etcd-roles.js';
import { Keys, SkyDnsKeys } from '../api/keys.js';
import { DEFAULT_SKYDNS_PREFIX, type Config } from '../src/config.js';
import { applyAuth } from '../src/etcd/auth-setup.js';
import { etcdClient } from '../src/etcd/etcd3-kv-store.js';
import { etcdClientOptions } from '../src/etcd/etcd-tls.js';
import { createLogger } from '../src/logging.js';

/**
 * `dokkaa auth setup [--node N ...] [--no-enable]`: etcd's users and roles for this cluster
 * (docs/security.md, Roles), then auth on. The nodes are those named, else those with a
 * node record now. Idempotent. Users get no password: the client certificate's CN logs in.
 */
export async function authSetup(options: { nodes: string[]; enable: boolean }, config: Config): Promise<string> {
  const keys = new Keys(config.prefix);
  const client = etcdClient(etcdClientOptions(config, new Date()));
  try {
    const nodes = options.nodes.length > 0
      ? options.nodes
      : Object.keys(await client.getAll().prefix(keys.nodes).strings()).flatMap((k) => keys.parseNode(k) ?? []);
    const plan = authPlan(keys, new SkyDnsKeys(config.skydnsPrefix ?? DEFAULT_SKYDNS_PREFIX), nodes);
    await applyAuth(client.auth, plan, { enable: options.enable }, createLogger('error', true));
    return `roles and users set up: ${plan.users.map((u) => u.name).join(', ')}${options.enable ? '; auth enabled' : ''}`;
  } finally {
    client.close();
  }
}

/** `dokkaa auth add-node NODE`: the user and role of a new host (the rest is set up again, unchanged). */
export async function authAddNode(node: string, config: Config): Promise<string> {
  return authSetup({ nodes: [node], enable: false }, config);
}
