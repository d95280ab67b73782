import type { Amounts } from '../../api/records.js';
import type { Config } from '../config.js';

/** What a node record says of its host's size: all of it, and what replicas may reserve. */
export interface NodeAmounts {
  /** The engine's figures, each replaced by its --capacity-* override if given. */
  capacity: Amounts;
  /** `capacity` less the host's reserve (--reserve-*), never below 0. */
  allocatable: Amounts;
}

/** Sums of CPUs drift in binary (0.1 + 0.2); a thousandth of a CPU is finer than anyone reserves. */
export function roundCpus(cpus: number): number {
  return Math.round(cpus * 1000) / 1000;
}

export function nodeAmounts(engine: Amounts, config: Pick<Config, 'capacity' | 'reserve'>): NodeAmounts {
  const capacity = { cpus: config.capacity?.cpus ?? engine.cpus, memoryBytes: config.capacity?.memoryBytes ?? engine.memoryBytes };
  const reserve = config.reserve ?? { cpus: 0, memoryBytes: 0 };
  return {
    capacity,
    allocatable: {
      cpus: Math.max(0, roundCpus(capacity.cpus - reserve.cpus)),
      memoryBytes: Math.max(0, capacity.memoryBytes - reserve.memoryBytes),
    },
  };
}
