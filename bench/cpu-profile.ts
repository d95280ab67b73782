import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The part of a V8 .cpuprofile (`node --cpu-prof`) that self time is computed from. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  /** `function (file:line)`, the file relative to the project (or the module it is in). */
  where: string;
  selfMs: number;
  share: number;
}

/** The functions with the most self time in a profile, summed over their call sites. */
export function hotSpots(file: string, top = 12): HotSpot[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const f = frames.get(id);
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    if (!f) return;
    const where = `${f.functionName || '(anonymous)'} (${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''})`;
    self.set(where, (self.get(where) ?? 0) + dt);
  });
  return [...self.entries()]
    .filter(([w]) => !w.startsWith('(idle)') && !w.startsWith('(program)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([where, selfMs]) => ({ where, selfMs, share: total > 0 ? selfMs / total : 0 }));
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + '/dist/'.length) : url.replace(/^file:\/\//, '');
}

/** The profiles a process wrote into `dir` (`--cpu-prof-dir`), newest last. */
export function profilesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}
