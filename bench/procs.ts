import { readFileSync } from 'node:fs';

/** Runs `fn` over `items`, `size` at a time. */
export async function inChunks<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** A process's CPU time so far (user + system) and its resident memory now and at its peak, from /proc. */
export function procStats(pid: number): { cpuSeconds: number; rssMB: number; peakRssMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) / 1024;
  return { cpuSeconds: (Number(f[11]) + Number(f[12])) / 100, rssMB: kb('VmRSS'), peakRssMB: kb('VmHWM') };
}
