import type { Etcd3, Watcher } from 'etcd3';
import { Keys } from '../api/keys.js';
import type { Engines, EngineEvent } from './engines.js';
import { mdTable, secs } from './report.js';
import { summarize } from './stats.js';

/**
 * Where a Dokkaa converge spends its time, seen from outside: from the manifest put, when
 * each replica's placement was written (etcd watch), its container created and started
 * (engine events, the engines' clock), its replica record said `running` (etcd watch), and
 * when the status record counted them all. Only the bench watches, so the platform pays
 * nothing for it; a traced run is an extra run, not one of the timed ones.
 */
export const STAGES = ['placement written', 'container created', 'container started', 'record running'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageRow {
  stage: Stage | 'status running';
  /** ms after the put: the first replica to reach the stage, and the last. */
  first: number;
  last: number;
  /** Per replica, ms from the stage before to this one: median and max. */
  stepMedian: number;
  stepMax: number;
}

export interface ConvergeTrace {
  replicas: number;
  rows: StageRow[];
}

export class StageTracer {
  private readonly at = new Map<string, Partial<Record<Stage, number>>>();
  private status: number | undefined;
  private watchers: Watcher[] = [];
  private unlisten: (() => void) | undefined;
  private readonly keys: Keys;

  constructor(private readonly etcd: Etcd3, prefix: string, private readonly engines: Engines, private readonly app: string, private readonly want: number) {
    this.keys = new Keys(prefix);
  }

  private mark(replica: string, stage: Stage, t: number): void {
    const m = this.at.get(replica) ?? {};
    if (m[stage] === undefined) m[stage] = t;
    this.at.set(replica, m);
  }

  async start(): Promise<void> {
    this.unlisten = this.engines.onEvent((ev: EngineEvent) => {
      if (ev.labels['dokkaa.app'] !== this.app || ev.labels['dokkaa.replica'] === undefined) return;
      if (ev.action === 'create') this.mark(ev.labels['dokkaa.replica'], 'container created', ev.t);
      if (ev.action === 'start') this.mark(ev.labels['dokkaa.replica'], 'container started', ev.t);
    });
    const placements = await this.etcd.watch().prefix(this.keys.placements).create();
    placements.on('put', (kv) => {
      const p = this.keys.parsePlacement(kv.key.toString());
      if (p?.app === this.app) this.mark(String(p.replica), 'placement written', Date.now());
    });
    // Replica records sit under each host's own prefix: every host's, this manifest's only.
    const records = await this.etcd.watch().prefix(this.keys.replicas).create();
    records.on('put', (kv) => {
      const r = this.keys.parseReplica(kv.key.toString());
      if (r?.app !== this.app || r.name !== 'svc') return;
      const state = (JSON.parse(kv.value.toString()) as { state?: string }).state;
      if (r && state === 'running') this.mark(String(r.replica), 'record running', Date.now());
    });
    const status = await this.etcd.watch().key(this.keys.status(this.app, 'svc')).create();
    status.on('put', (kv) => {
      const running = (JSON.parse(kv.value.toString()) as { running?: number }).running;
      if (running === this.want && this.status === undefined) this.status = Date.now();
    });
    this.watchers = [placements, records, status];
  }

  /** Waits (up to `ms`) for the status to count every replica, then stops watching. */
  async stop(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.status === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.unlisten?.();
    await Promise.all(this.watchers.map((w) => w.cancel()));
  }

  /** The stages relative to `t0` (the put). */
  result(t0: number): ConvergeTrace {
    const rows: StageRow[] = [];
    STAGES.forEach((stage, i) => {
      const times = [...this.at.values()].map((m) => m[stage]).filter((t): t is number => t !== undefined);
      if (times.length === 0) return;
      const steps = [...this.at.values()].flatMap((m) => {
        const before = i === 0 ? t0 : m[STAGES[i - 1]!];
        return m[stage] !== undefined && before !== undefined ? [m[stage]! - before] : [];
      });
      const s = summarize(steps.length ? steps : [0]);
      rows.push({ stage, first: Math.min(...times) - t0, last: Math.max(...times) - t0, stepMedian: s.median, stepMax: s.max });
    });
    if (this.status !== undefined) {
      const last = Math.max(...[...this.at.values()].map((m) => m['record running'] ?? 0));
      const step = this.status - last;
      rows.push({ stage: 'status running', first: this.status - t0, last: this.status - t0, stepMedian: step, stepMax: step });
    }
    return { replicas: this.want, rows };
  }
}

/** One table per traced converge: when the first and the last replica reached each stage, and the per-replica step. */
export function traceTable(t: ConvergeTrace): string {
  return mdTable(
    ['stage', 'first (after put)', 'last (after put)', 'step per replica: median', 'max'],
    t.rows.map((r) => [r.stage, secs(r.first), secs(r.last), secs(r.stepMedian), secs(r.stepMax)]),
  );
}
