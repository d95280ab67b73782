/**
 * Which of a manifest's placements count towards its scale. A move's replacement (a
 * placement with `replaces: i`) is a surge while replica i is still placed, and counts for
 * nothing; once i is gone it stands in for it, as an ordinary placement at its own index.
 * The scheduler's planner, the status and the scheduler's reading of an invalid manifest's
 * last scale all count this way.
 */
export interface StandingIndices {
  /** Indices held by surges. */
  surges: ReadonlySet<number>;
  /** Indices of the placements that count, ascending, each once. */
  present: number[];
}

export function standingIndices(placed: readonly { replica: number; replaces?: number | undefined }[]): StandingIndices {
  const originals = new Set(placed.filter((p) => p.replaces === undefined).map((p) => p.replica));
  const surges = new Set(placed.filter((p) => p.replaces !== undefined && originals.has(p.replaces)).map((p) => p.replica));
  const present = [...new Set(placed.filter((p) => !surges.has(p.replica)).map((p) => p.replica))].sort((a, b) => a - b);
  return { surges, present };
}

/** The indices `count` replicas occupy: the lowest present ones, then `extra` in order, then the lowest free ones (never a surge's). */
export function indicesFor(standing: StandingIndices, count: number, extra: Iterable<number> = []): Set<number> {
  const indices = new Set(standing.present.slice(0, count));
  for (const i of extra) if (indices.size < count && !standing.surges.has(i)) indices.add(i);
  for (let i = 0; indices.size < count; i++) if (!standing.surges.has(i)) indices.add(i);
  return indices;
}
