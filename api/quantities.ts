import * as t from 'io-ts';

/**
 * Memory quantities as users write them: bytes as a number, or a string with a binary
 * (`Ki`, `Mi`, `Gi`, `Ti`) or decimal (`K`, `M`, `G`, `T`) suffix, as Kubernetes and Nomad
 * read them. `parseMemory` returns the bytes, or undefined for anything else (negative, zero,
 * fractional bytes, unknown suffix).
 */
const UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

export function parseMemory(u: unknown): number | undefined {
  if (typeof u === 'number') return Number.isInteger(u) && u > 0 ? u : undefined;
  if (typeof u !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(u.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * UNITS[m[2] ?? '']!;
  return Number.isFinite(bytes) && bytes >= 1 ? Math.round(bytes) : undefined;
}

/** A memory amount: decodes to bytes. */
export const Memory = new t.Type<number, number, unknown>(
  'a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G)',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u > 0,
  (u, c) => {
    const bytes = parseMemory(u);
    return bytes === undefined ? t.failure(u, c, 'a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G)') : t.success(bytes);
  },
  t.identity,
);

/** CPUs, as Docker's `--cpus`: a positive number, at most 1024 (0.5 is half of one CPU). */
export const Cpus = new t.Type<number, number, unknown>(
  'a positive number of CPUs (e.g. 0.5)',
  (u): u is number => typeof u === 'number' && u > 0 && u <= 1024,
  (u, c) => (typeof u === 'number' && Number.isFinite(u) && u > 0 && u <= 1024 ? t.success(u) : t.failure(u, c, 'a positive number of CPUs (e.g. 0.5)')),
  t.identity,
);
