/**
 * Which sealed copies one node should hold, decided without I/O: one per secret that a
 * manifest with a placement on the node uses, at the secret's current version, sealed to the
 * node's current key. Everything else under the node goes, so a secret reaches only the
 * hosts that run a replica using it, and leaves them with the last such replica.
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
  const wanted = new Map<string, SecretRef & { version: number }>();
  if (input.sealingKey !== undefined) {
    for (const ref of input.used) {
      const version = input.versions.get(secretKey(ref));
      if (version !== undefined) wanted.set(secretKey(ref), { app: ref.app, name: ref.name, version });
    }
  }
  const held = new Map(input.copies.map((c) => [secretKey(c), c]));
  const seal = [...wanted.values()].filter((w) => {
    const c = held.get(secretKey(w));
    return !c || c.version !== w.version || c.key !== input.sealingKey;
  });
  const remove = input.copies.filter((c) => !wanted.has(secretKey(c))).map((c) => ({ app: c.app, name: c.name }));
  return { seal, remove };
}
