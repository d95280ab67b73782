import { filter, startWith, Subject, type Observable } from 'rxjs';
import type { Clock } from '../clock.js';
import { STREAM_CONNECTED, type ContainerDetails, type ContainerEngine, type ContainerEvent, type ContainerSummary, type CreateSpec, type EngineInfo, type ImageCommand, type PullOptions, type VolumeSummary } from './container-engine.js';

/**
 * How long each engine call takes, in ms. The defaults are what a real Docker Engine took on
 * the lab machine (docs LAB.md: create ~15 ms, start ~250 ms for a busybox container); the
 * others are small constants of the same order as a local API round trip.
 */
export interface MemoryEngineDelays {
  create: number;
  start: number;
  stop: number;
  remove: number;
  /** list, inspect, hasImage, info and the other reads. */
  read: number;
  pull: number;
}

export const LAB_ENGINE_DELAYS: MemoryEngineDelays = { create: 15, start: 250, stop: 10, remove: 10, read: 1, pull: 0 };

export interface MemoryEngineOptions {
  clock: Clock;
  delays?: Partial<MemoryEngineDelays>;
  /** What `info` reports (the host's capacity). */
  info?: EngineInfo;
  /** What `bridgeGateway` answers; undefined: an engine without a bridge. */
  bridgeGateway?: string;
  /** Images the engine has; `all`: every image (no pulls needed). */
  images?: 'all' | readonly string[];
}

interface Container extends ContainerDetails {
  image: string;
  mounts: NonNullable<CreateSpec['mounts']>;
}

const FIRST_HOST_PORT = 32768;

/**
 * A Docker Engine in memory, for hollow hosts (the scale bench: the real agent with no
 * Docker behind it). It keeps Docker's observable contract as the agent relies on it: names
 * unique (409), container states moving with start/stop/remove, published ports given a
 * host port, and an event stream (create, start, die, stop, destroy, rename) filtered by
 * labels. Each call completes after its delay on the injected clock; calls overlap freely
 * (no engine-wide lock, which a real engine partly has). `exit` ends a container's process
 * as a crash would. Not for feature tests: those run on real engines.
 */
export class MemoryEngine implements ContainerEngine {
  private readonly containers = new Map<string, Container>();
  private readonly byName = new Map<string, string>();
  private readonly images = new Set<string>();
  private readonly volumes = new Map<string, VolumeSummary>();
  private readonly emitted = new Subject<ContainerEvent>();
  private readonly delays: MemoryEngineDelays;
  private readonly allImages: boolean;
  private readonly clock: Clock;
  private seq = 0;
  private inFlight = 0;
  private hold: NodeJS.Timeout | undefined;
  private nextPort = FIRST_HOST_PORT;
  /** Calls made, by verb: what the hollow host asked of its engine. */
  readonly calls: Record<string, number> = {};

  constructor(private readonly opts: MemoryEngineOptions) {
    this.clock = opts.clock;
    this.delays = { ...LAB_ENGINE_DELAYS, ...opts.delays };
    this.allImages = opts.images === 'all' || opts.images === undefined;
    if (Array.isArray(opts.images)) for (const i of opts.images) this.images.add(i);
  }

  /** Containers the engine holds, in any state. */
  get size(): number {
    return this.containers.size;
  }

  /** Containers running now. */
  running(): number {
    let n = 0;
    for (const c of this.containers.values()) if (c.running) n++;
    return n;
  }

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    await this.after('list', this.delays.read);
    // Newest first, as Docker lists them.
    return [...this.containers.values()]
      .filter((c) => matches(c.labels, labels))
      .reverse()
      .map(({ id, name, labels: l, state }) => ({ id, name, labels: { ...l }, state }));
  }

  async inspect(idOrName: string): Promise<ContainerDetails | undefined> {
    await this.after('inspect', this.delays.read);
    const c = this.find(idOrName);
    if (!c) return undefined;
    const { image: _image, mounts: _mounts, ...details } = c;
    return { ...details, labels: { ...c.labels }, hostPorts: { ...c.hostPorts }, env: [...c.env] };
  }

  async create(spec: CreateSpec): Promise<string> {
    await this.after('create', this.delays.create);
    if (this.byName.has(spec.name)) throw withStatus(`Conflict. The container name "/${spec.name}" is already in use`, 409);
    if (!this.allImages && !this.images.has(spec.image)) throw withStatus(`No such image: ${spec.image}`, 404);
    const id = `mem${(++this.seq).toString(16).padStart(12, '0')}`;
    const hostPorts = Object.fromEntries(spec.ports.map((p) => [`${p.port}/${p.protocol}`, this.nextPort++]));
    this.containers.set(id, {
      id,
      name: spec.name,
      image: spec.image,
      labels: { ...spec.labels },
      state: 'created',
      running: false,
      exitCode: 0,
      hostPorts,
      env: [...spec.env],
      mounts: [...(spec.mounts ?? [])],
      ip: `172.17.${(this.seq >> 8) & 255}.${(this.seq & 255) || 1}`,
    });
    this.byName.set(spec.name, id);
    this.emit(id, 'create');
    return id;
  }

  async start(id: string): Promise<void> {
    await this.after('start', this.delays.start);
    const c = this.must(id);
    if (c.running) return; // Docker: 304, which the dockerode engine treats as done
    // A started container's health check starts over, as Docker's does.
    Object.assign(c, { state: 'running', running: true, exitCode: 0, startedAt: this.iso(), health: undefined, oomKilled: undefined });
    this.emit(c.id, 'start');
  }

  async stop(id: string, _graceSeconds: number): Promise<void> {
    await this.after('stop', this.delays.stop);
    const c = this.find(id);
    if (!c?.running) return;
    this.end(c, 143);
    this.emit(c.id, 'stop');
  }

  async remove(id: string): Promise<void> {
    await this.after('remove', this.delays.remove);
    const c = this.find(id);
    if (!c) return;
    // Docker's force removal kills a running container first.
    if (c.running) this.end(c, 137);
    this.containers.delete(c.id);
    this.byName.delete(c.name);
    this.emit(c.id, 'destroy', c.labels);
  }

  async rename(id: string, name: string): Promise<void> {
    await this.after('rename', this.delays.read);
    const c = this.must(id);
    if (c.name === name) return;
    if (this.byName.has(name)) throw withStatus(`Conflict. The container name "/${name}" is already in use`, 409);
    this.byName.delete(c.name);
    c.name = name;
    this.byName.set(name, c.id);
    this.emit(c.id, 'rename');
  }

  async hasImage(ref: string): Promise<boolean> {
    await this.after('hasImage', this.delays.read);
    return this.allImages || this.images.has(ref);
  }

  async imageCommand(_ref: string): Promise<ImageCommand> {
    await this.after('imageCommand', this.delays.read);
    return { entrypoint: [], cmd: ['sh'] };
  }

  async pull(ref: string, options: PullOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await this.after('pull', this.delays.pull);
    options.signal?.throwIfAborted();
    this.images.add(ref);
  }

  async info(): Promise<EngineInfo> {
    await this.after('info', this.delays.read);
    return this.opts.info ?? { cpus: 8, memoryBytes: 32 * 2 ** 30, version: 'memory' };
  }

  async bridgeGateway(): Promise<string | undefined> {
    await this.after('bridgeGateway', this.delays.read);
    return this.opts.bridgeGateway;
  }

  async logs(): Promise<string> {
    await this.after('logs', this.delays.read);
    return '';
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    await this.after('createVolume', this.delays.read);
    if (!this.volumes.has(name)) this.volumes.set(name, { name, labels: { ...labels } });
  }

  async listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]> {
    await this.after('listVolumes', this.delays.read);
    return [...this.volumes.values()].filter((v) => matches(v.labels, labels)).map((v) => ({ name: v.name, labels: { ...v.labels } }));
  }

  async removeVolume(name: string): Promise<void> {
    await this.after('removeVolume', this.delays.read);
    for (const c of this.containers.values()) {
      if (c.mounts.some((m) => m.type === 'volume' && m.source === name)) throw withStatus(`remove ${name}: volume is in use`, 409);
    }
    this.volumes.delete(name);
  }

  events(labels: Record<string, string>): Observable<ContainerEvent> {
    return this.emitted.pipe(filter((ev) => matches(ev.labels, labels)), startWith({ id: '', action: STREAM_CONNECTED, labels: {} }));
  }

  /** The container's process ends with `code`, now (a crash, or the OOM killer with 137). */
  exit(idOrName: string, code: number): void {
    const c = this.must(idOrName);
    if (!c.running) return;
    this.end(c, code);
  }

  private end(c: Container, code: number): void {
    Object.assign(c, { state: 'exited', running: false, exitCode: code, finishedAt: this.iso() });
    this.emit(c.id, 'die');
  }

  private emit(id: string, action: string, labels?: Record<string, string>): void {
    const c = this.containers.get(id);
    this.emitted.next({ id, action, labels: { ...(labels ?? c?.labels ?? {}), ...(c ? { name: c.name } : {}) } });
  }

  private after(verb: string, ms: number): Promise<void> {
    this.calls[verb] = (this.calls[verb] ?? 0) + 1;
    if (ms <= 0) return Promise.resolve();
    // A call in flight keeps the process alive, as a real engine's socket does (the
    // system clock's timers do not).
    if (this.inFlight++ === 0) this.hold = setInterval(() => undefined, 2 ** 30);
    return new Promise((resolve) =>
      this.clock.setTimeout(() => {
        if (--this.inFlight === 0) clearInterval(this.hold);
        resolve();
      }, ms),
    );
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private find(idOrName: string): Container | undefined {
    return this.containers.get(idOrName) ?? this.containers.get(this.byName.get(idOrName) ?? '');
  }

  private must(idOrName: string): Container {
    const c = this.find(idOrName);
    if (!c) throw withStatus(`No such container: ${idOrName}`, 404);
    return c;
  }
}

function matches(have: Record<string, string>, want: Record<string, string>): boolean {
  for (const k in want) if (have[k] !== want[k]) return false;
  return true;
}

function withStatus(message: string, statusCode: number): Error {
  return Object.assign(new Error(message), { statusCode });
}
