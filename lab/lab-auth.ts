import { Etcd3 } from 'etcd3';
import { authPlan } from '../api/etcd-roles.js';
import { Keys, SkyDnsKeys } from '../api/keys.js';
import { applyAuth } from '../src/etcd/auth-setup.js';
import { createLogger } from '../src/logging.js';
import { labEtcdOptions } from './lab-pki.js';
import type { LabState } from './lab-state.js';

/**
 * etcd's users and roles for a lab that runs TLS, as `dokkaa auth setup` makes them on real
 * hosts (api/etcd-roles.ts): `admin` (tests, benchmarks, the CLI), `controller`, and one
 * role per node that writes only what that host owns; then authentication on. Idempotent,
 * so `up` runs it every time (a host added later gets its role). A lab without TLS has no
 * certificate CNs to log in with, and keeps etcd open.
 */
export async function ensureLabAuth(state: LabState, nodes: readonly string[]): Promise<void> {
  const etcd = new Etcd3(labEtcdOptions(state, { dialTimeout: 3_000 }));
  try {
    await applyAuth(etcd.auth, authPlan(new Keys(state.prefix), new SkyDnsKeys(), nodes), { enable: true }, createLogger('error', true));
  } finally {
    etcd.close();
  }
}
