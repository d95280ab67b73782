import type { Keys } from '../../api/keys.js';
import { configsUsed, secretsUsed, type ManifestSpec } from '../../api/manifest.js';
import { ConfigRecord, decodeRecord, SecretRecord } from '../../api/records.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import type { Plan } from './placement-plan.js';

/** A spec with the versions of its secrets and configs, or why it cannot be placed. */
export type FileVersions = { ok: true; spec: ManifestSpec } | { ok: false; reason: string };

/**
 * The spec with `secretVersions` and `configVersions` as stored now (read fresh): they are
 * part of the template hash, so a new value makes a new spec and the usual rolling update.
 * A version here is the etcd mod revision of the record, not its `version` count: that one
 * starts again at 1 after `secret rm`, and a value set again must still roll.
 * A spec that uses none is returned as it is (its hash unchanged). Names the first missing
 * one otherwise (`secret db-password not found in app shop`).
 */
export async function withFileVersions(store: KvStore, keys: Keys, app: string, spec: ManifestSpec): Promise<FileVersions> {
  const secrets = secretsUsed(spec);
  const configs = configsUsed(spec);
  if (secrets.length === 0 && configs.length === 0) return { ok: true, spec };
  const [secretKvs, configKvs] = await Promise.all([
    Promise.all(secrets.map((s) => store.get(keys.secret(app, s)))),
    Promise.all(configs.map((c) => store.get(keys.config(app, c)))),
  ]);
  const secretVersions: Record<string, number> = {};
  const configVersions: Record<string, number> = {};
  for (const [i, s] of secrets.entries()) {
    const kv = secretKvs[i];
    if (!decodeRecord(SecretRecord, kv?.value)) return { ok: false, reason: `secret ${s} not found in app ${app}` };
    secretVersions[s] = kv!.modRevision;
  }
  for (const [i, c] of configs.entries()) {
    const kv = configKvs[i];
    if (!decodeRecord(ConfigRecord, kv?.value)) return { ok: false, reason: `config ${c} not found in app ${app}` };
    configVersions[c] = kv!.modRevision;
  }
  return {
    ok: true,
    spec: { ...spec, ...(secrets.length ? { secretVersions } : {}), ...(configs.length ? { configVersions } : {}) },
  };
}

/**
 * The plan for a manifest that cannot run yet (a missing secret or config): nothing new
 * is placed, and every replica it would have placed, or could not, waits for `reason`.
 * What it already placed stays (removals still go ahead: a dead node's replicas are gone).
 */
export function withheld(plan: Plan, reason: string): Plan {
  const waiting = [...plan.add.map((a) => a.replica), ...plan.unschedulable.map((u) => u.replica)];
  return { ...plan, add: [], update: [], unschedulable: [...new Set(waiting)].sort((a, b) => a - b).map((replica) => ({ replica, reason })) };
}
