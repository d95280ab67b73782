import * as t from 'io-ts';
import { checkedRecord, closedType } from './closed-type.js';
import { DnsLabel, isDnsLabel } from './names.js';
import { Cpus, Memory } from './quantities.js';
import { AbsolutePath } from './volumes.js';

/*
 * The cluster's admission policy (`policy`, written by admins: `dokkaa policy set -f FILE`;
 * docs/policy.md). Each rule applies only when present: an absent field allows anything.
 * Closed like a manifest (a misspelt rule must be an error, not a rule silently dropped).
 */

/**
 * An image reference prefix: `registry.local:5000/` (a registry: its host and a `/`),
 * `dokkaa/` (a Docker Hub namespace), `docker.io/library/nginx`. A bare host would read as
 * a Docker Hub image, so it is refused.
 */
const IMAGE_PREFIX_EXPECTED = 'an image prefix ("registry.local:5000/" with the "/" after a registry host, "dokkaa/")';
const isImagePrefix = (u: unknown): u is string =>
  typeof u === 'string' && /^[^\s]+$/.test(u) && (u.includes('/') || !(u.includes('.') || u.startsWith('localhost')));
const ImagePrefix = new t.Type<string, string, unknown>(
  IMAGE_PREFIX_EXPECTED,
  isImagePrefix,
  (u, c) => (isImagePrefix(u) ? t.success(u) : t.failure(u, c, IMAGE_PREFIX_EXPECTED)),
  t.identity,
);

/** An app name, or `*`: every app without an entry of its own. */
const AppOrDefault = new t.Type<string, string, unknown>(
  'an app name (a DNS label) or "*"',
  (u): u is string => typeof u === 'string' && (u === '*' || isDnsLabel(u)),
  (u, c) => (typeof u === 'string' && (u === '*' || isDnsLabel(u)) ? t.success(u) : t.failure(u, c, 'an app name (a DNS label) or "*"')),
  t.identity,
);

const MaxReplicas = new t.Type<number, number, unknown>(
  'an integer >= 0',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 0,
  (u, c) => (typeof u === 'number' && Number.isInteger(u) && u >= 0 ? t.success(u) : t.failure(u, c, 'an integer >= 0')),
  t.identity,
);

/** An app's totals over all its manifests; `memory` decodes to bytes. */
export const Quota = closedType('Quota', {}, { maxReplicas: MaxReplicas, cpus: Cpus, memory: Memory });
export type Quota = t.TypeOf<typeof Quota>;

/** policy: the cluster's admission policy. */
export const PolicyRecord = closedType(
  'Policy',
  {},
  {
    /** Image reference prefixes a manifest may run (`registry.local:5000/`, `dokkaa/`). */
    registries: t.array(ImagePrefix, 'an array of image prefixes'),
    /** Host path prefixes a bind mount may use (the agent's --allow-host-path must allow it too). */
    hostPaths: t.array(AbsolutePath, 'an array of absolute paths'),
    /** Per app (or `*`, the default), totals over all the app's manifests. */
    quotas: checkedRecord(AppOrDefault, Quota, 'quotas'),
    /** The apps that may use the powerful options (capAdd, host-path volumes). */
    privileged: t.array(DnsLabel, 'an array of app names'),
  },
);
export type PolicyRecord = t.TypeOf<typeof PolicyRecord>;

/** The quota that applies to `app`: its own, else the default (`*`), else none. */
export function quotaOf(policy: PolicyRecord, app: string): Quota | undefined {
  return policy.quotas?.[app] ?? policy.quotas?.['*'];
}
