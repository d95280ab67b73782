import type { NodeRecord } from './records.js';

/**
 * Whether a node satisfies a manifest's `constraints`. Keys, as in Swarm: `node.name`,
 * `node.labels.<label>`; a value `!x` means "not x". An unknown key never matches.
 */
export function matchesConstraints(node: NodeRecord, constraints: Record<string, string>): boolean {
  return Object.entries(constraints).every(([key, want]) => {
    const actual = key === 'node.name' ? node.name : key.startsWith('node.labels.') ? node.labels[key.slice(12)] : undefined;
    if (key !== 'node.name' && !key.startsWith('node.labels.')) return false;
    return want.startsWith('!') ? actual !== want.slice(1) : actual === want;
  });
}
