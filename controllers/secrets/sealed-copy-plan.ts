import { matchesConstraints } from '../../api/constraints.js';
import { registryHostOf } from '../../api/image-refs.js';
import type { NodeRecord } from '../../api/records.js';

/**
 * Which sealed copies one node should hold, decided without I/O: one per secret that a
 * manifest with a placement on the node uses, and one per registry its images come from,
 * each at its current version and sealed to the node's current key. Everything else under
 * the node goes, so a secret or a registry's password reaches only the hosts that need it,
 * and leaves them when they no longer do.
 */

/** A secret of an app: `app/name`. */
export interface SecretRef {
  app: string;
  name: string;
}

export interface SealedCopyInput {
  /** The node's public sealing key; undefined when the node is not live (or publishes none). */
  sealingKey: string | undefined;
  /** The secrets that the manifests placed on the node use (duplicates allowed). */
  used: SecretRef[];
  /** Current versions of the stored secrets (their records' mod revisions), by `app/name`. */
  versions: ReadonlyMap<string, number>;
  /** The node's copies as stored. */
  copies: (SecretRef & { version: number; key: string })[];
}

export interface SealedCopyPlan {
  /** Copies to (re)seal: absent, at an older version, or sealed to another key. */
  seal: (SecretRef & { version: number })[];
  /** Copies no replica on the node needs, of secrets removed, or of a node gone. */
  remove: SecretRef[];
}

export function secretKey(ref: SecretRef): string {
  return `${ref.app}/${ref.name}`;
}

export function planSealedCopies(input: SealedCopyInput): SealedCopyPlan {
  return planCopies(input.sealingKey, input.used, secretKey, input.versions, input.copies, (r) => ({ app: r.app, name: r.name }));
}

/** A registry's copy for one node: the registry host (`registries/<host>`). */
export interface RegistryCopyInput {
  sealingKey: string | undefined;
  /** The registry hosts the node pulls from (duplicates allowed; hosts without credentials are ignored). */
  used: string[];
  /** Current versions of the stored credentials (their records' mod revisions), by host. */
  versions: ReadonlyMap<string, number>;
  copies: { host: string; version: number; key: string }[];
}

export interface RegistryCopyPlan {
  seal: { host: string; version: number }[];
  remove: string[];
}

export function planRegistryCopies(input: RegistryCopyInput): RegistryCopyPlan {
  const { seal, remove } = planCopies(input.sealingKey, input.used.map((host) => ({ host })), (r) => r.host, input.versions, input.copies, (r) => ({ host: r.host }));
  return { seal, remove: remove.map((r) => r.host) };
}

/** The one rule for both kinds: wanted = used and stored (none for a node without a key); seal what is missing or stale. */
function planCopies<R, C extends { version: number; key: string }>(
  sealingKey: string | undefined,
  used: R[],
  id: (r: R | C) => string,
  versions: ReadonlyMap<string, number>,
  copies: C[],
  ref: (r: R | C) => R,
): { seal: (R & { version: number })[]; remove: R[] } {
  const wanted = new Map<string, R & { version: number }>();
  if (sealingKey !== undefined) {
    for (const r of used) {
      const version = versions.get(id(r));
      if (version !== undefined) wanted.set(id(r), { ...ref(r), version });
    }
  }
  const held = new Map(copies.map((c) => [id(c), c]));
  const seal = [...wanted.values()].filter((w) => {
    const c = held.get(id(w));
    return !c || c.version !== w.version || c.key !== sealingKey;
  });
  const remove = copies.filter((c) => !wanted.has(id(c))).map(ref);
  return { seal, remove };
}

/** A `dokkaa pull` request as the secrets controller sees it: the image, and the constraints of its manifest (none if the manifest is gone or invalid). */
export interface PrepullNeed {
  image: string;
  constraints: Record<string, string> | undefined;
}

/**
 * The registries a node pulls from: those of its placements' images, and those of the
 * pre-pull requests it carries out (as the prepull reconciler decides: the manifest's
 * constraints match the node, which is not cordoned).
 */
export function registriesNeeded(input: { node: NodeRecord | undefined; cordoned: boolean; images: string[]; prepulls: PrepullNeed[] }): string[] {
  const { node } = input;
  const prepulled = node && !input.cordoned ? input.prepulls.filter((p) => p.constraints && matchesConstraints(node, p.constraints)).map((p) => p.image) : [];
  return [...new Set([...input.images, ...prepulled].map(registryHostOf))];
}
