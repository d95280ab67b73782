import type { Etcd3, Watcher } from 'etcd3';
import { Keys } from '../api/keys.js';
import type { Engines, EngineEvent } from './engines.js';
import { mdTable, secs } from './report.js';
import { summarize } from './stats.js';

/**
 * Where a Dokkaa converge spends its time, seen from outside: from the manifest put, when
 * each replica's placement was written (etcd watch), its host finished pulling the image
 * (engine `pull` event; only when the host had to), its container was created and started
 * (engine events, the engines' clock), its replica record said `running` (etcd watch), and
 * when the status record counted them all. Only the bench watches, so the platform pays
 * nothing for it; a traced run is an extra run, not one of the timed ones. `floor` traces
 * the floor's containers instead (bench labels; only the engine stages exist).
 */
export const STAGES = ['placement written', 'image pulled', 'container created', 'container started', 'record running'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageRow {
  stage: string;
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

/** Keeps the first time `replica` reached `stage`. */
function markFirst<S extends string>(at: Map<string, Partial<Record<S, number>>>, replica: string, stage: S, t: number): void {
  const m: Partial<Record<S, number>> = at.get(replica) ?? {};
  if (m[stage] === undefined) m[stage] = t;
  at.set(replica, m);
}

/**
 * One row per stage some replica reached: when the first and the last reached it after `t0`,
 * and per replica the time from the last earlier stage it went through (or `t0`): a warm
 * host pulls nothing, a container that had exited gets no stop signal.
 */
function stageRows<S extends string>(stages: readonly S[], marks: Partial<Record<S, number>>[], t0: number): StageRow[] {
  const rows: StageRow[] = [];
  stages.forEach((stage, i) => {
    const times = marks.map((m) => m[stage]).filter((t): t is number => t !== undefined);
    if (times.length === 0) return;
    const steps = marks.flatMap((m) => {
      const before = stages.slice(0, i).map((s) => m[s]).filter((t): t is number => t !== undefined).at(-1) ?? t0;
      return m[stage] !== undefined ? [m[stage]! - before] : [];
    });
    const s = summarize(steps);
    rows.push({ stage, first: Math.min(...times) - t0, last: Math.max(...times) - t0, stepMedian: s.median, stepMax: s.max });
  });
  return rows;
}

/** The labels naming a traced container's run and replica: the floor's (bench labels) or Dokkaa's. */
function tracedLabels(floor = false): { app: string; replica: string } {
  return floor ? { app: 'bench.id', replica: 'bench.replica' } : { app: 'dokkaa.app', replica: 'dokkaa.replica' };
}

export class StageTracer {
  private readonly at = new Map<string, Partial<Record<Stage, number>>>();
  /** Per host: when its first pull of the run completed. */
  private readonly pulled = new Map<string, number>();
  /** Per replica: the host its container was created on. */
  private readonly nodeOf = new Map<string, string>();
  private status: number | undefined;
  private watchers: Watcher[] = [];
  private unlisten: (() => void) | undefined;
  private readonly keys: Keys;
  private readonly labels: { app: string; replica: string };

  constructor(private readonly etcd: Etcd3, prefix: string, private readonly engines: Engines, private readonly app: string, private readonly want: number, private readonly opts: { floor?: boolean } = {}) {
    this.keys = new Keys(prefix);
    this.labels = tracedLabels(opts.floor);
  }

  private mark(replica: string, stage: Stage, t: number): void {
    markFirst(this.at, replica, stage, t);
  }

  async start(): Promise<void> {
    this.unlisten = this.engines.onEvent((ev: EngineEvent) => {
      if (ev.type === 'image') {
        if (ev.action === 'pull' && !this.pulled.has(ev.node)) this.pulled.set(ev.node, ev.t);
        return;
      }
      const replica = ev.labels[this.labels.replica];
      if (ev.labels[this.labels.app] !== this.app || replica === undefined) return;
      if (ev.action === 'create') {
        this.mark(replica, 'container created', ev.t);
        this.nodeOf.set(replica, ev.node);
      }
      if (ev.action === 'start') this.mark(replica, 'container started', ev.t);
    });
    if (this.opts.floor) return;
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
    while (!this.opts.floor && this.status === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.unlisten?.();
    await Promise.all(this.watchers.map((w) => w.cancel()));
  }

  /** The stages relative to `t0` (the put). */
  result(t0: number): ConvergeTrace {
    // A replica's image was there once its host's pull completed.
    for (const [replica, node] of this.nodeOf) {
      const t = this.pulled.get(node);
      if (t !== undefined) this.mark(replica, 'image pulled', t);
    }
    // Only the containers created in this run (a scale-up's replicas already running may have their records rewritten).
    const created = [...this.at.values()].filter((m) => m['container created'] !== undefined);
    const rows = stageRows(STAGES, created, t0);
    if (this.status !== undefined) {
      const last = Math.max(...created.map((m) => m['record running'] ?? 0));
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

/** A scale-down's stages, per removed replica. */
export const REMOVAL_STAGES = ['placement deleted', 'container killed', 'container died'] as const;
type RemovalStage = (typeof REMOVAL_STAGES)[number];

/**
 * A Dokkaa scale-down seen from outside, as StageTracer sees a converge: when each removed
 * replica's placement was deleted (etcd watch), its container got the stop signal (engine
 * `kill`) and its process ended (engine `die`), from the scale request. `floor` traces the
 * floor's containers instead (bench labels; only the engine stages exist).
 */
export class RemovalTracer {
  private readonly at = new Map<string, Partial<Record<RemovalStage, number>>>();
  private watcher: Watcher | undefined;
  private unlisten: (() => void) | undefined;
  private readonly keys: Keys;
  private readonly labels: { app: string; replica: string };

  constructor(private readonly etcd: Etcd3, prefix: string, private readonly engines: Engines, private readonly app: string, private readonly opts: { floor?: boolean } = {}) {
    this.keys = new Keys(prefix);
    this.labels = tracedLabels(opts.floor);
  }

  private mark(replica: string, stage: RemovalStage, t: number): void {
    markFirst(this.at, replica, stage, t);
  }

  async start(): Promise<void> {
    this.unlisten = this.engines.onEvent((ev: EngineEvent) => {
      const replica = ev.labels[this.labels.replica];
      if (ev.type !== 'container' || ev.labels[this.labels.app] !== this.app || replica === undefined) return;
      if (ev.action === 'kill') this.mark(replica, 'container killed', ev.t);
      if (ev.action === 'die') this.mark(replica, 'container died', ev.t);
    });
    if (this.opts.floor) return;
    this.watcher = await this.etcd.watch().prefix(this.keys.placements).create();
    this.watcher.on('delete', (kv) => {
      const p = this.keys.parsePlacement(kv.key.toString());
      if (p?.app === this.app) this.mark(String(p.replica), 'placement deleted', Date.now());
    });
  }

  async stop(): Promise<void> {
    this.unlisten?.();
    await this.watcher?.cancel();
  }

  /** The stages relative to `t0` (the scale request), over the replicas whose placement was deleted (the floor: that it stopped). */
  result(t0: number): ConvergeTrace {
    const removed = [...this.at.values()].filter((m) => m[this.opts.floor ? 'container killed' : 'placement deleted'] !== undefined);
    return { replicas: removed.length, rows: stageRows(REMOVAL_STAGES, removed, t0) };
  }
}

