import { NO_USAGE, type Usage } from '../../api/admission.js';
import type { Amounts } from '../../api/records.js';
import { DEFAULT_RESERVATION } from '../../api/reservation.js';
import { standingIndices } from '../../src/placement/replica-indices.js';

/** What a manifest's placements reserve, counting those that count towards its scale (a move's surge does not). */
export function placedUsage(placed: readonly { replica: number; replaces?: number | undefined; reserved?: Amounts | undefined }[]): Usage {
  const { surges } = standingIndices(placed);
  const standing = placed.filter((p) => !surges.has(p.replica));
  return {
    replicas: standing.length,
    cpus: standing.reduce((sum, p) => sum + (p.reserved ?? DEFAULT_RESERVATION).cpus, 0),
    memoryBytes: standing.reduce((sum, p) => sum + (p.reserved ?? DEFAULT_RESERVATION).memoryBytes, 0),
  };
}

export function addUsage(usages: readonly Usage[]): Usage {
  return usages.reduce((a, u) => ({ replicas: a.replicas + u.replicas, cpus: a.cpus + u.cpus, memoryBytes: a.memoryBytes + u.memoryBytes }), NO_USAGE);
}
