import type { ManifestSpec } from './manifest.js';
import type { Amounts, NodeRecord } from './records.js';

/**
 * What a replica without `resources` reserves on its node: small enough that a host holds
 * hundreds of such replicas, large enough that "as many as fit" is never unbounded.
 * Documented in docs/manifest.md.
 */
export const DEFAULT_RESERVATION: Amounts = { cpus: 0.01, memoryBytes: 32 * 2 ** 20 };

/** A replica's reservation: its limits, each absent one at its default. */
export function reservationOf(spec: Pick<ManifestSpec, 'resources'>): Amounts {
  return {
    cpus: spec.resources?.cpus ?? DEFAULT_RESERVATION.cpus,
    memoryBytes: spec.resources?.memoryBytes ?? DEFAULT_RESERVATION.memoryBytes,
  };
}

/** What the scheduler may reserve on a node (its `allocatable`, or its capacity for an older agent). */
export function allocatableOf(node: Pick<NodeRecord, 'capacity' | 'allocatable'>): Amounts {
  return node.allocatable ?? { cpus: node.capacity.cpus, memoryBytes: node.capacity.memoryBytes };
}

/** The strategy and limits a manifest places by, with the defaults applied. */
export function placementOf(spec: Pick<ManifestSpec, 'placement'>): { strategy: 'spread' | 'binpack'; spreadBy?: string; maxPerNode?: number } {
  return {
    strategy: spec.placement?.strategy ?? 'spread',
    ...(spec.placement?.spreadBy !== undefined ? { spreadBy: spec.placement.spreadBy } : {}),
    ...(spec.placement?.maxPerNode !== undefined ? { maxPerNode: spec.placement.maxPerNode } : {}),
  };
}

/** `2Gi`, `1.5Gi`, `512Mi`, `300Ki`, `17`: a byte count as a person reads it (binary units). */
export function formatMemory(bytes: number): string {
  for (const [unit, size] of [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (Math.abs(bytes) >= size) return `${+(bytes / size).toFixed(2)}${unit}`;
  }
  return String(bytes);
}

/** `0.5`, `2`, `0.01`: CPUs as a person reads them. */
export function formatCpus(cpus: number): string {
  return String(+cpus.toFixed(3));
}
