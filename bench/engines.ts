import type { IncomingMessage } from 'node:http';
import Docker from 'dockerode';

/**
 * The running containers of several Docker Engines as the engines themselves report them:
 * a `docker ps` per engine, then its event stream (start, die, destroy), kept up to date
 * in memory. "Running" in every benchmark is measured here, the same way for Dokkaa,
 * Swarm and the floor. Times are the engines' own event timestamps (`timeNano`; same
 * machine, same clock as Date.now()), so a busy benchmark process does not delay them.
 *
 * An engine whose stream ends (its dockerd was stopped) counts as running nothing; it is
 * reconnected, and re-listed, as soon as it answers again.
 */

export interface RunningContainer {
  id: string;
  node: string;
  name: string;
  labels: Record<string, string>;
  /** When it started (ms since the epoch, engine clock). */
  startedAt: number;
}

export interface EngineRef {
  name: string;
  socket: string;
}

interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  timeNano?: number;
  time?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

type Waiter = { pred: () => boolean; resolve: (t: number) => void };

/** A container event as an engine reported it (for traces): create, start, die or destroy. */
export interface EngineEvent {
  node: string;
  /** `container`, or `image` (a pull that completed: `action` `pull`, `labels.image` the reference). */
  type: 'container' | 'image';
  action: string;
  labels: Record<string, string>;
  /** Engine time, ms since the epoch. */
  t: number;
}

export class Engines {
  readonly clients = new Map<string, Docker>();
  private readonly running = new Map<string, Map<string, RunningContainer>>();
  private readonly streams = new Map<string, IncomingMessage>();
  private readonly connected = new Set<string>();
  private waiters: Waiter[] = [];
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  private readonly listeners = new Set<(ev: EngineEvent) => void>();

  constructor(readonly nodes: EngineRef[]) {
    for (const n of nodes) {
      // Generous: on a loaded shared machine one create among a hundred in flight can take over a minute.
      this.clients.set(n.name, new Docker({ socketPath: n.socket, timeout: 300_000 }));
      this.running.set(n.name, new Map());
    }
  }

  /** Connects to every engine; resolves once each has been listed. */
  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.connect(n.name)));
    for (const n of this.nodes) if (!this.connected.has(n.name)) throw new Error(`engine ${n.name} (${n.socket}) does not answer`);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
  }

  engine(node: string): Docker {
    const c = this.clients.get(node);
    if (!c) throw new Error(`no engine ${node}`);
    return c;
  }

  /** Calls `fn` with every container event from now on, until the function returned is called. */
  onEvent(fn: (ev: EngineEvent) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  isConnected(node: string): boolean {
    return this.connected.has(node);
  }

  /** Running containers matching `match`, on `nodes` (default all). */
  list(match: (c: RunningContainer) => boolean, nodes?: string[]): RunningContainer[] {
    const out: RunningContainer[] = [];
    for (const [node, m] of this.running) {
      if (nodes && !nodes.includes(node)) continue;
      for (const c of m.values()) if (match(c)) out.push(c);
    }
    return out;
  }

  count(match: (c: RunningContainer) => boolean, nodes?: string[]): number {
    return this.list(match, nodes).length;
  }

  /**
   * Resolves with the engine time (ms since the epoch) of the event that first made `pred`
   * true, checked after every event; with Date.now() if it is true already. Rejects after
   * `timeoutMs` with `describe()` in the message.
   */
  until(pred: () => boolean, timeoutMs: number, describe: () => string): Promise<number> {
    if (pred()) return Promise.resolve(Date.now());
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve: (t) => {
          clearTimeout(timer);
          this.timers.delete(timer);
          resolve(t);
        },
      };
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      this.timers.add(timer);
      this.waiters.push(waiter);
    });
  }

  private check(t: number): void {
    if (this.waiters.length === 0) return;
    const done = this.waiters.filter((w) => w.pred());
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve(t);
  }

  private retryLater(node: string): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.connect(node);
    }, 250);
    this.timers.add(timer);
  }

  private lost(node: string): void {
    if (!this.connected.delete(node)) return;
    this.streams.delete(node);
    this.running.get(node)!.clear();
    this.check(Date.now());
    this.retryLater(node);
  }

  private async connect(node: string): Promise<void> {
    if (this.stopped || this.connected.has(node)) return;
    const docker = this.engine(node);
    let stream: IncomingMessage;
    const buffered: DockerEvent[] = [];
    let listed = false;
    try {
      stream = (await docker.getEvents({ filters: { type: ['container', 'image'], event: ['create', 'start', 'kill', 'die', 'destroy', 'pull'] } })) as unknown as IncomingMessage;
    } catch {
      this.retryLater(node);
      return;
    }
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        let ev: DockerEvent;
        try {
          ev = JSON.parse(line) as DockerEvent;
        } catch {
          continue;
        }
        if (listed) this.apply(node, ev);
        else buffered.push(ev);
      }
    });
    const end = () => {
      if (this.streams.get(node) === stream) this.lost(node);
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
    try {
      const list = await docker.listContainers({ all: false });
      const m = this.running.get(node)!;
      m.clear();
      const now = Date.now();
      for (const c of list) {
        m.set(c.Id, { id: c.Id, node, name: (c.Names[0] ?? '').replace(/^\//, ''), labels: c.Labels ?? {}, startedAt: now });
      }
      listed = true;
      this.streams.set(node, stream);
      this.connected.add(node);
      for (const ev of buffered) this.apply(node, ev);
      this.check(now);
    } catch {
      stream.destroy();
      this.retryLater(node);
    }
  }

  private apply(node: string, ev: DockerEvent): void {
    const action = ev.Action ?? ev.status;
    const id = ev.Actor?.ID ?? ev.id;
    if (!id || !action) return;
    const t = ev.timeNano ? ev.timeNano / 1e6 : ev.time ? ev.time * 1000 : Date.now();
    if (ev.Type === 'image') {
      for (const fn of this.listeners) fn({ node, type: 'image', action, labels: { image: id }, t });
      return;
    }
    const m = this.running.get(node)!;
    for (const fn of this.listeners) fn({ node, type: 'container', action, labels: ev.Actor?.Attributes ?? {}, t });
    if (action === 'start') {
      const attrs = { ...(ev.Actor?.Attributes ?? {}) };
      const name = attrs.name ?? '';
      m.set(id, { id, node, name, labels: attrs, startedAt: t });
    } else if (action === 'die' || action === 'destroy') {
      if (!m.delete(id)) return;
    } else {
      return;
    }
    this.check(t);
  }
}
