import { parseMemory } from '../api/quantities.js';
import { BadValueError } from '../src/config.js';

/**
 * A lab host's size as its agent reports it (`--capacity-memory`, `--capacity-cpus`, with
 * no reserve), whatever the machine has: so one machine can play hosts of 1, 2 and 4 GiB.
 * Absent parts: the engine's figures.
 */
export interface HostCapacity {
  /** As manifests write memory: `1Gi`, `512Mi`, bytes. */
  memory?: string;
  cpus?: number;
}

/** Throws unless `c` names a valid amount for each part it gives; `what` names it in the error. */
export function checkHostCapacity(what: string, c: HostCapacity): HostCapacity {
  if (c.memory !== undefined && parseMemory(c.memory) === undefined) {
    throw new BadValueError(`${what}: expected a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G), got ${JSON.stringify(c.memory)}`);
  }
  if (c.cpus !== undefined && !(Number.isFinite(c.cpus) && c.cpus > 0)) throw new BadValueError(`${what}: expected a positive number of CPUs, got ${JSON.stringify(c.cpus)}`);
  return c;
}

/** `2Gi:2`, `2Gi` or `:2` (memory:cpus) -> a HostCapacity; throws naming `what`. */
export function parseHostCapacity(what: string, text: string): HostCapacity {
  const [memory = '', cpus = '', ...rest] = text.trim().split(':');
  if (rest.length || (memory === '' && cpus === '')) throw new BadValueError(`${what}: expected MEMORY:CPUS (e.g. 2Gi:2; either may be left out), got ${JSON.stringify(text)}`);
  return checkHostCapacity(what, { ...(memory !== '' ? { memory } : {}), ...(cpus !== '' ? { cpus: Number(cpus) } : {}) });
}

/** `n1=1Gi:1,n2=2Gi:2` -> { n1: {...}, n2: {...} }; throws naming `what`. */
export function parseHostCapacities(what: string, text: string): Record<string, HostCapacity> {
  const out: Record<string, HostCapacity> = {};
  for (const part of text.split(',').filter((p) => p.trim() !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new BadValueError(`${what}: expected NODE=MEMORY:CPUS[,NODE=MEMORY:CPUS...], got ${JSON.stringify(part)}`);
    out[part.slice(0, eq).trim()] = parseHostCapacity(`${what} ${part.slice(0, eq).trim()}`, part.slice(eq + 1));
  }
  return out;
}

/** The agent flags that make it report `c`: the overrides, and no reserve (the lab host is exactly that big). */
export function capacityArgs(c: HostCapacity | undefined): string[] {
  if (!c || (c.memory === undefined && c.cpus === undefined)) return [];
  return [
    ...(c.memory !== undefined ? ['--capacity-memory', c.memory] : []),
    ...(c.cpus !== undefined ? ['--capacity-cpus', String(c.cpus)] : []),
    '--reserve-memory', '0',
    '--reserve-cpus', '0',
  ];
}
