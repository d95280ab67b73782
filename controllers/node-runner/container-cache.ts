import { inject, injectable } from 'inversify';
import { Subject, type Observable, type Subscription } from 'rxjs';
import { replicaId, type Keys } from '../../api/keys.js';
import { backoffDelay, type Clock, type TimerHandle } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import type { SyncedCache } from '../../src/controller/controller.js';
import { STREAM_CONNECTED, type ContainerEngine, type ContainerEvent, type ContainerSummary } from '../../src/docker/container-engine.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import { hostLabels, replicaOfLabels } from './container-template.js';

/** The action of the events a re-list makes up for the containers it found changed. */
export const RELISTED = 'relisted';

/** The state a container is in after an event (events not named here leave it as it was). */
const STATE_AFTER: Record<string, string> = { start: 'running', restart: 'running', unpause: 'running', die: 'exited', pause: 'paused' };

/** Attributes Docker adds to a container event beside the container's labels. */
const NOT_LABELS = new Set(['name', 'image', 'exitCode', 'execDuration', 'signal', 'oldName']);

/** Ids of destroyed containers remembered, so that a late report of their creation does not bring them back. */
const GONE_KEPT = 1024;

interface Entry extends ContainerSummary {
  /** Higher is newer: the order Docker lists containers in. */
  seq: number;
}

/**
 * This host's containers of this cluster, listed once and then kept by the engine's events
 * (client-go's informer, for the Docker side): the node runner reads a replica's containers
 * here instead of asking the engine (a label-filtered list) each reconcile, an engine round
 * trip before every create and stop (bench/results/converge-2026-11-30-eighth.md).
 *
 * The executor applies what it did (`apply`) as soon as the engine answered, so the
 * reconcile after it sees its own create even before the engine's event comes; a create
 * the cache missed would otherwise meet the name taken. Each (re)connection of the event
 * stream lists again, since events before it may be lost, and so does `relist` (the node
 * runner's resync); events during a listing are applied at once and again over its result,
 * in order. A listing after the first tells the containers it found changed as `relisted`
 * events.
 */
@injectable()
export class ContainerCache implements SyncedCache {
  private readonly byId = new Map<string, Entry>();
  private readonly byReplica = new Map<string, Set<string>>();
  private readonly gone = new Set<string>();
  /** The state events gave containers not known yet (their create event lost on a torn line), for when their create is applied. */
  private readonly early = new Map<string, string>();
  private readonly events$ = new Subject<ContainerEvent>();
  private readonly labels: Record<string, string>;
  private users = 0;
  private generation = 0;
  private seq = 0;
  private subscription: Subscription | undefined;
  private timer: TimerHandle | undefined;
  private attempt = 0;
  /** Events (the engine's and applied ones) that came while a listing was in flight, to apply again over it. */
  private pending: ContainerEvent[] | undefined;
  private again = false;
  private listed = false;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(
    @inject(TYPES.ContainerEngine) private readonly engine: Pick<ContainerEngine, 'list' | 'events'>,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'node'>,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {
    this.labels = hostLabels(keys.root, config.node);
  }

  /** The engine's events, each after the cache applied it, and the `relisted` ones. */
  get events(): Observable<ContainerEvent> {
    return this.events$;
  }

  acquire(): void {
    if (this.users++ > 0) return;
    const generation = ++this.generation;
    this.clear();
    this.subscription = this.engine.events(this.labels).subscribe((ev) => {
      if (generation !== this.generation) return;
      if (ev.action === STREAM_CONNECTED) void this.list(generation);
      else this.receive(ev, true);
    });
  }

  async release(): Promise<void> {
    if (this.users === 0 || --this.users > 0) return;
    this.generation++;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.clear();
    for (const w of this.waiters.splice(0)) w.reject(new Error('container cache stopped'));
  }

  /** Resolves once the engine's containers have been listed since the cache started. */
  synced(): Promise<void> {
    if (this.listed) return Promise.resolve();
    if (this.users === 0) return Promise.reject(new Error('container cache not running'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** A replica's containers, newest first (copies). */
  ofReplica(app: string, name: string, replica: number): ContainerSummary[] {
    const ids = this.byReplica.get(replicaId(app, name, replica));
    if (!ids) return [];
    return [...ids].map((id) => this.byId.get(id)!).sort((a, b) => b.seq - a.seq).map(summary);
  }

  /** Every replica that has a container here. */
  replicaIds(): string[] {
    return [...this.byReplica.keys()];
  }

  /** What this process just did to a container, as the engine will report it (`create` carries the labels and `name`; `destroy` also when inspect found it gone). */
  apply(ev: ContainerEvent): void {
    this.receive(ev, false);
  }

  /** Lists the engine's containers again now and applies the difference (the resync's safety net). */
  async relist(): Promise<void> {
    if (this.users > 0) await this.list(this.generation);
  }

  /**
   * Applied at once, also while a listing is in flight (a reconcile must see its own create
   * then, or it would create again and meet the name taken); and kept to apply again over
   * the listing's snapshot, which may predate it.
   */
  private receive(ev: ContainerEvent, tell: boolean): void {
    this.change(ev);
    this.pending?.push(ev);
    if (tell) this.events$.next(ev);
  }

  private async list(generation: number): Promise<void> {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    // One listing at a time; a reason to list that comes during one (a reconnection: events
    // may have been lost after it began) lists once more after it.
    if (this.pending) {
      this.again = true;
      return;
    }
    this.pending = [];
    let found: ContainerSummary[];
    try {
      found = await this.engine.list(this.labels);
    } catch (err) {
      if (generation !== this.generation) return;
      this.pending = undefined;
      const delayMs = backoffDelay(this.attempt++, 500, 30_000);
      this.log.warn('listing containers failed; retrying', { component: 'container-cache', delayMs, error: errorField(err) });
      this.timer = this.clock.setTimeout(() => void this.list(generation), delayMs);
      return;
    }
    if (generation !== this.generation) return;
    this.attempt = 0;
    const before = new Map([...this.byId].map(([id, e]) => [id, summary(e)]));
    this.byId.clear();
    this.byReplica.clear();
    // Docker lists newest first.
    const base = this.seq;
    this.seq += found.length;
    found.forEach((c, i) => this.add({ ...c, labels: { ...c.labels }, seq: base + found.length - i }));
    const replay = this.pending;
    this.pending = undefined;
    for (const ev of replay) this.change(ev);
    // What the events did not say. The first listing tells nothing: a controller resyncs
    // every key once its caches synced.
    if (this.listed) for (const ev of differences(before, this.byId)) this.events$.next(ev);
    if (!this.listed) {
      this.listed = true;
      for (const w of this.waiters.splice(0)) w.resolve();
    }
    if (this.again) {
      this.again = false;
      await this.list(generation);
    }
  }

  private change(ev: ContainerEvent): void {
    const entry = this.byId.get(ev.id);
    if (ev.action === 'create') {
      if (entry || this.gone.has(ev.id)) return;
      const labels = Object.fromEntries(Object.entries(ev.labels).filter(([k]) => !NOT_LABELS.has(k)));
      this.add({ id: ev.id, name: ev.labels['name'] ?? '', labels, state: this.early.get(ev.id) ?? 'created', seq: ++this.seq });
      this.early.delete(ev.id);
    } else if (ev.action === 'destroy') {
      this.remove(ev.id);
    } else if (entry && ev.action === 'rename' && ev.labels['name'] !== undefined) {
      entry.name = ev.labels['name'];
    } else if (STATE_AFTER[ev.action]) {
      if (entry) entry.state = STATE_AFTER[ev.action]!;
      else if (!this.gone.has(ev.id)) {
        this.early.set(ev.id, STATE_AFTER[ev.action]!);
        if (this.early.size > GONE_KEPT) this.early.delete(this.early.keys().next().value!);
      }
    }
  }

  private add(entry: Entry): void {
    const key = replicaOfLabels(entry.labels);
    // Not one of the node runner's replicas (no replica labels): nothing reads it.
    if (!key) return;
    this.byId.set(entry.id, entry);
    (this.byReplica.get(key) ?? this.byReplica.set(key, new Set()).get(key)!).add(entry.id);
  }

  private remove(id: string): void {
    this.gone.add(id);
    if (this.gone.size > GONE_KEPT) this.gone.delete(this.gone.values().next().value!);
    const entry = this.byId.get(id);
    if (!entry) return;
    this.byId.delete(id);
    const key = replicaOfLabels(entry.labels)!;
    const ids = this.byReplica.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.byReplica.delete(key);
  }

  private clear(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.byId.clear();
    this.byReplica.clear();
    this.gone.clear();
    this.early.clear();
    this.pending = undefined;
    this.again = false;
    this.listed = false;
    this.attempt = 0;
  }
}

function summary({ id, name, labels, state }: ContainerSummary): ContainerSummary {
  return { id, name, labels: { ...labels }, state };
}

/** `relisted` events for the containers a listing found added, changed or gone. */
function differences(before: Map<string, ContainerSummary>, after: Map<string, Entry>): ContainerEvent[] {
  const out: ContainerEvent[] = [];
  for (const [id, e] of after) {
    const was = before.get(id);
    if (!was || was.state !== e.state || was.name !== e.name) out.push({ id, action: RELISTED, labels: { ...e.labels, name: e.name } });
  }
  for (const [id, was] of before) if (!after.has(id)) out.push({ id, action: RELISTED, labels: { ...was.labels, name: was.name } });
  return out;
}
