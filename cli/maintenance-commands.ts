import type { Keys } from '../api/keys.js';
import { decodeManifest } from '../api/manifest.js';
import { decodeRecord, MaintenanceRecord, MovesRecord, NodeRecord, PlacementRecord, PlacementSummary, type MoveRequest } from '../api/records.js';
import type { Config } from '../src/config.js';
import type { KvStore, WatchEvent, WatchHandle } from '../src/etcd/kv-store.js';
import { planRebalance, type PlannedMove, type RebalancePlan } from '../src/placement/rebalance-plan.js';
import { UsageError, withStore } from './client-commands.js';

/*
 * `dokkaa cordon`, `uncordon`, `drain` and `rebalance`: they write maintenance/<node> and
 * moves/<app>/<name>; the scheduler does the moving (docs/design.md, "Maintenance and
 * moves"). Each takes the store, so tests run them on the fake one.
 */

export interface DrainOptions {
  /** How long to watch before failing (the drain itself goes on). */
  timeoutSeconds: number;
  /** Remove global replicas too. */
  includeGlobal: boolean;
}

export interface RebalanceOptions {
  dryRun: boolean;
  timeoutSeconds: number;
}

/** A node the cluster knows: a live node record, placements on it, or a maintenance record. */
async function checkNode(store: KvStore, keys: Keys, node: string | undefined, usage: string): Promise<{ node: string; maintenance: MaintenanceRecord | undefined }> {
  if (!node) throw new UsageError(`usage: ${usage}`);
  const [record, placed, held] = await Promise.all([store.get(keys.node(node)), store.list(keys.nodePlacements(node)), store.get(keys.nodeMaintenance(node))]);
  const maintenance = decodeRecord(MaintenanceRecord, held?.value);
  if (!record && placed.kvs.length === 0 && !maintenance) throw new UsageError(`unknown node ${node}: no live node of that name and nothing placed on it (dokkaa nodes lists them)`);
  return { node, maintenance };
}

/** `dokkaa cordon NODE`: no new placements there; what runs there stays. */
export async function cordonNode(store: KvStore, keys: Keys, target: string | undefined, now: Date): Promise<string> {
  const { node, maintenance } = await checkNode(store, keys, target, 'dokkaa cordon NODE');
  if (maintenance?.cordoned) return `${node} already cordoned (since ${maintenance.since})`;
  await store.put(keys.nodeMaintenance(node), JSON.stringify({ ...maintenance, cordoned: true, since: now.toISOString() } satisfies MaintenanceRecord));
  return `${node} cordoned: nothing new is placed there`;
}

/** `dokkaa uncordon NODE`: schedulable again; ends a drain (a move in flight finishes). */
export async function uncordonNode(store: KvStore, keys: Keys, target: string | undefined): Promise<string> {
  const { node, maintenance } = await checkNode(store, keys, target, 'dokkaa uncordon NODE');
  if (!maintenance) return `${node} is not cordoned`;
  await store.delete(keys.nodeMaintenance(node));
  return `${node} uncordoned${maintenance.draining ? ' (its drain ended)' : ''}`;
}

/** Cordons NODE and marks it draining (kept as it was if it is already: rerunning drain resumes watching). */
export async function startDrain(store: KvStore, keys: Keys, target: string | undefined, includeGlobal: boolean, now: Date): Promise<string> {
  const { node, maintenance } = await checkNode(store, keys, target, 'dokkaa drain NODE [--timeout S] [--include-global]');
  const since = now.toISOString();
  const record: MaintenanceRecord = {
    ...maintenance,
    cordoned: true,
    since: maintenance?.cordoned ? maintenance.since : since,
    draining: { startedAt: maintenance?.draining?.startedAt ?? since, ...(includeGlobal || maintenance?.draining?.includeGlobal ? { includeGlobal: true } : {}) },
  };
  await store.put(keys.nodeMaintenance(node), JSON.stringify(record));
  return node;
}

const label = (p: { app: string; name: string; replica: number }) => `${p.app}/${p.name} replica ${p.replica}`;

/**
 * What a drain watch sees of the cluster: the drained node's placements, and the
 * replacements elsewhere (placements with `replaces`) of the manifests on it.
 */
export class DrainProgress {
  private readonly onNode = new Map<string, PlacementRecord>();
  /** `app/name/replaces` -> the replacement's node and key. */
  private readonly moving = new Map<string, { node: string; key: string }>();
  private lastCount: number | undefined;

  constructor(private readonly keys: Keys, private readonly node: string, private readonly includeGlobal: boolean) {}

  /** Takes the node's placements as listed; returns the lines to print. */
  start(kvs: { key: string; value: string }[]): string[] {
    for (const kv of kvs) this.apply({ type: 'put', kv: { ...kv, modRevision: 0, lease: '0' } });
    return this.countLine();
  }

  /** Takes a batch of events under placements/; returns the lines to print. */
  update(events: WatchEvent[]): string[] {
    return [...events.flatMap((ev) => this.apply(ev)), ...this.countLine()];
  }

  /** The replicas on the node that must still go, as `app/name replica i`. */
  left(): string[] {
    return [...this.onNode.values()].filter((p) => this.includeGlobal || p.spec.mode !== 'global').sort((a, b) => label(a).localeCompare(label(b))).map(label);
  }

  /** Global replicas that stay on the node. */
  staying(): number {
    return this.includeGlobal ? 0 : [...this.onNode.values()].filter((p) => p.spec.mode === 'global').length;
  }

  private apply(ev: WatchEvent): string[] {
    const key = ev.type === 'put' ? ev.kv.key : ev.key;
    const at = this.keys.parsePlacement(key);
    if (!at) return [];
    const id = (replica: number) => `${at.app}/${at.name}/${replica}`;
    if (at.node === this.node) {
      const before = this.onNode.get(key);
      if (ev.type === 'put') {
        const p = decodeRecord(PlacementRecord, ev.kv.value);
        if (p) this.onNode.set(key, p);
        return [];
      }
      this.onNode.delete(key);
      if (!before) return [];
      const to = this.moving.get(id(at.replica))?.node;
      this.moving.delete(id(at.replica));
      return [to ? `moved ${label(before)} from ${this.node} to ${to}` : `${label(before)} left ${this.node}`];
    }
    // Elsewhere only the replacements of this node's replicas matter.
    if (ev.type === 'put') {
      const replaces = decodeRecord(PlacementSummary, ev.kv.value)?.replaces;
      if (replaces === undefined || !this.onNode.has(this.keys.placement(this.node, at.app, at.name, replaces)) || this.moving.has(id(replaces))) return [];
      this.moving.set(id(replaces), { node: at.node, key });
      return [`moving ${label({ ...at, replica: replaces })} from ${this.node} to ${at.node}`];
    }
    // A replacement deleted while the replica it replaces is still here: the move was abandoned.
    const failed = [...this.moving].find(([, m]) => m.key === key);
    if (!failed) return [];
    this.moving.delete(failed[0]);
    return [`move of ${at.app}/${at.name} replica ${failed[0].split('/')[2]} to ${at.node} failed; the scheduler tries again (dokkaa describe ${at.app}/${at.name})`];
  }

  private countLine(): string[] {
    const n = this.left().length;
    if (n === this.lastCount) return [];
    this.lastCount = n;
    return [`${this.node}: ${n} replica${n === 1 ? '' : 's'} left`];
  }
}

/**
 * Lists `list` (a prefix inside `watch`), hands it to `onList`, then watches `watch` from
 * that listing's revision, handing each batch to `onEvents`, until `done` is called with a
 * result or the timeout passes (then `onTimeout`'s error). The watch is cancelled either way.
 */
async function follow<T>(
  store: KvStore,
  prefixes: { list: string; watch: string },
  timeoutMs: number,
  handlers: { onList(kvs: { key: string; value: string }[], done: (r: T) => void): void; onEvents(events: WatchEvent[], done: (r: T) => void): void; onTimeout(): Error },
): Promise<T> {
  const listed = await store.list(prefixes.list);
  let handle: WatchHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settle!: (r: { ok: T } | { error: Error }) => void;
  const ended = new Promise<{ ok: T } | { error: Error }>((resolve) => (settle = resolve));
  const done = (r: T) => settle({ ok: r });
  try {
    handlers.onList(listed.kvs, done);
    handle = await store.watch(prefixes.watch, listed.revision + 1, {
      onEvents: (events) => handlers.onEvents(events, done),
      onError: (err) => settle({ error: err }),
    });
    timer = setTimeout(() => settle({ error: handlers.onTimeout() }), timeoutMs);
    const r = await ended;
    if ('error' in r) throw r.error;
    return r.ok;
  } finally {
    clearTimeout(timer);
    await handle?.cancel();
  }
}

/**
 * `dokkaa drain NODE`: cordons and marks it draining, then prints the scheduler's moves
 * until no movable replica is left. On timeout or Ctrl-C the node stays cordoned and
 * draining and the scheduler goes on; running drain again resumes watching.
 */
export async function drainNode(store: KvStore, keys: Keys, target: string | undefined, options: DrainOptions, out: (line: string) => void, now = new Date()): Promise<string> {
  const node = await startDrain(store, keys, target, options.includeGlobal, now);
  const held = decodeRecord(MaintenanceRecord, (await store.get(keys.nodeMaintenance(node)))?.value);
  const progress = new DrainProgress(keys, node, !!held?.draining?.includeGlobal);
  out(`${node} cordoned and draining${held?.draining?.includeGlobal ? ' (global replicas too)' : ''}`);
  const finished = (done: (r: string) => void) => {
    if (progress.left().length > 0) return;
    const stay = progress.staying();
    done(`${node} drained: no movable replica left${stay ? `; ${stay} global replica${stay === 1 ? '' : 's'} stay (--include-global removes them)` : ''}; it stays cordoned (dokkaa uncordon ${node} to use it again)`);
  };
  return follow<string>(store, { list: keys.nodePlacements(node), watch: keys.placements }, options.timeoutSeconds * 1000, {
    onList: (kvs, done) => {
      progress.start(kvs).forEach((l) => out(l));
      finished(done);
    },
    onEvents: (events, done) => {
      progress.update(events).forEach((l) => out(l));
      finished(done);
    },
    onTimeout: () => new UsageError(
      `timed out after ${options.timeoutSeconds} s: ${node} still holds ${progress.left().join(', ')}; it stays cordoned and draining, ` +
      `and the scheduler goes on moving them (dokkaa drain ${node} watches again, dokkaa describe APP/NAME says why one does not move)`,
    ),
  });
}

/** `APP[/NAME]` as a scope; nothing means every manifest. */
function parseScope(target: string | undefined): { app?: string; name?: string } {
  if (!target) return {};
  const [app, name, extra] = target.split('/');
  if (!app || extra !== undefined || name === '') throw new UsageError('usage: dokkaa rebalance [APP[/NAME]] [--dry-run] [--timeout S]');
  return { app, ...(name ? { name } : {}) };
}

/** The moves rebalance would make now, from etcd's nodes, maintenance, placements and manifests. */
export async function planClusterRebalance(store: KvStore, keys: Keys, target: string | undefined): Promise<RebalancePlan> {
  const scope = parseScope(target);
  const [nodeList, maintenance, placements, apps] = await Promise.all([store.list(keys.nodes), store.list(keys.maintenance), store.list(keys.placements), store.list(keys.apps)]);
  const nodes = nodeList.kvs.map((kv) => decodeRecord(NodeRecord, kv.value)).filter((n): n is NodeRecord => !!n);
  const cordoned = new Set(maintenance.kvs.flatMap((kv) => {
    const node = keys.parseMaintenance(kv.key);
    const m = decodeRecord(MaintenanceRecord, kv.value);
    return node && m && (m.cordoned || m.draining) ? [node] : [];
  }));
  const manifests = apps.kvs.flatMap((kv) => {
    const at = keys.parseManifest(kv.key);
    if (!at || (scope.app && at.app !== scope.app) || (scope.name && at.name !== scope.name)) return [];
    const d = decodeManifest(kv.value, at.app, at.name);
    return d.ok ? [{ ...at, spec: d.spec }] : [];
  });
  if (scope.app && manifests.length === 0) throw new UsageError(`no valid manifest ${target}`);
  const placed = placements.kvs.map((kv) => decodeRecord(PlacementSummary, kv.value)).filter((p): p is PlacementSummary => !!p);
  return planRebalance({ nodes, cordoned, placements: placed, manifests });
}

const moveLine = (m: PlannedMove) => `${m.app}/${m.name} replica ${m.replica}: ${m.from} -> ${m.to}`;

/**
 * `dokkaa rebalance [APP[/NAME]] [--dry-run]`: prints the moves; unless a dry run, asks the
 * scheduler for them (moves/<app>/<name>, replacing an earlier request) and prints each as
 * it ends, until all have.
 */
export async function rebalance(store: KvStore, keys: Keys, target: string | undefined, options: RebalanceOptions, out: (line: string) => void, now = new Date()): Promise<string> {
  const plan = await planClusterRebalance(store, keys, target);
  for (const s of plan.skipped) out(`${s.app}/${s.name}: not moved (${s.reason})`);
  if (plan.moves.length === 0) return 'nothing to move: the spread is as even as placement makes it';
  plan.moves.forEach((m) => out(moveLine(m)));
  if (options.dryRun) return `${plan.moves.length} move${plan.moves.length === 1 ? '' : 's'} (dry run: nothing changed)`;

  const byManifest = new Map<string, PlannedMove[]>();
  for (const m of plan.moves) byManifest.set(`${m.app}/${m.name}`, [...(byManifest.get(`${m.app}/${m.name}`) ?? []), m]);
  for (const ms of byManifest.values()) {
    const record: MovesRecord = { moves: ms.map((m) => ({ replica: m.replica, from: m.from, to: m.to })), requestedAt: now.toISOString(), reason: 'dokkaa rebalance' };
    await store.put(keys.manifestMoves(ms[0]!.app, ms[0]!.name), JSON.stringify(record));
  }
  const pending = new Set(plan.moves);
  let moved = 0;
  /** Requests the scheduler no longer lists have ended: moved if the old placement is gone. */
  const check = async (records: Map<string, MoveRequest[]>, done: (r: string) => void) => {
    for (const m of [...pending]) {
      if ((records.get(`${m.app}/${m.name}`) ?? []).some((r) => r.replica === m.replica && r.from === m.from)) continue;
      pending.delete(m);
      if (await store.get(keys.placement(m.from, m.app, m.name, m.replica))) {
        out(`not moved: ${moveLine(m)} (dokkaa describe ${m.app}/${m.name} says why)`);
      } else {
        moved++;
        out(`moved ${moveLine(m)}`);
      }
    }
    if (pending.size === 0) done(`rebalanced: ${moved} of ${plan.moves.length} moves done`);
  };
  const records = new Map<string, MoveRequest[]>();
  const take = (key: string, value: string | undefined) => {
    const at = keys.parseMoves(key);
    if (!at) return;
    const r = value === undefined ? undefined : decodeRecord(MovesRecord, value);
    if (r) records.set(`${at.app}/${at.name}`, r.moves);
    else records.delete(`${at.app}/${at.name}`);
  };
  // One check at a time, in order: each reads etcd.
  let checking = Promise.resolve();
  const queue = (done: (r: string) => void) => (checking = checking.then(() => check(new Map(records), done)));
  return follow<string>(store, { list: keys.moves, watch: keys.moves }, options.timeoutSeconds * 1000, {
    onList: (kvs, done) => {
      for (const kv of kvs) take(kv.key, kv.value);
      queue(done);
    },
    onEvents: (events, done) => {
      for (const ev of events) take(ev.type === 'put' ? ev.kv.key : ev.key, ev.type === 'put' ? ev.kv.value : undefined);
      queue(done);
    },
    onTimeout: () => new UsageError(`timed out after ${options.timeoutSeconds} s with ${pending.size} move${pending.size === 1 ? '' : 's'} to go; the scheduler goes on with them (moves/ in etcd)`),
  });
}

/** The commands as main.ts runs them, on the configured etcd. */
export const maintenanceCommands = {
  cordon: (target: string | undefined, config: Config) => withStore(config, (store, keys) => cordonNode(store, keys, target, new Date())),
  uncordon: (target: string | undefined, config: Config) => withStore(config, (store, keys) => uncordonNode(store, keys, target)),
  drain: (target: string | undefined, options: DrainOptions, config: Config, out: (line: string) => void) => withStore(config, (store, keys) => drainNode(store, keys, target, options, out)),
  rebalance: (target: string | undefined, options: RebalanceOptions, config: Config, out: (line: string) => void) => withStore(config, (store, keys) => rebalance(store, keys, target, options, out)),
};
