/** What each benchmark part hands to bench/run.ts. */

/** One target of the issue, with the figure measured for it. */
export interface Target {
  what: string;
  target: string;
  measured: string;
  /** undefined: not measured (e.g. the part failed). */
  met: boolean | undefined;
  /** By how much and why, where missed; or a caveat. */
  note?: string;
}

export interface Chart {
  /** File name under bench/results/. */
  file: string;
  svg: string;
  alt: string;
}

export interface PartResult {
  /** A Markdown section (starting with a `##` heading). */
  section: string;
  json: unknown;
  targets?: Target[];
  charts?: Chart[];
}

export function targetTable(targets: Target[]): string {
  const mark = (t: Target) => (t.met === undefined ? 'not measured' : t.met ? '**met**' : '**missed**');
  return [
    '| target | measured | result | note |',
    '| --- | --- | --- | --- |',
    ...targets.map((t) => `| ${t.what}: ${t.target} | ${t.measured} | ${mark(t)} | ${t.note ?? ''} |`),
  ].join('\n');
}

export function mdTable(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export const secs = (ms: number, digits = 2) => `${(ms / 1000).toFixed(digits)} s`;
