import { filter, startWith, Subject, type Observable } from 'rxjs';
import { STREAM_CONNECTED, type ContainerDetails, type ContainerEngine, type ContainerEvent, type ContainerSummary, type CreateSpec, type EngineInfo, type ImageCommand, type PullOptions, type VolumeSummary } from '../../src/docker/container-engine.js';

interface FakeContainer extends ContainerDetails {
  image: string;
  mounts: NonNullable<CreateSpec['mounts']>;
  entrypoint?: string[];
  cmd?: string[];
}

/**
 * An in-memory ContainerEngine for unit tests: containers are records whose state moves
 * with create/start/stop/remove, names are unique (409 as Docker), and every call that
 * changes something is logged in `calls` as `verb id-or-name [arg]` and reported by
 * `events` as Docker would. Tests change a container's state directly (`exit`) as a crash would.
 */
export class FakeEngine implements ContainerEngine {
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Set<string>();
  /** The credentials each image was last pulled with. */
  readonly pullAuths = new Map<string, PullOptions['auth']>();
  /** Named volumes by name. */
  readonly volumes = new Map<string, VolumeSummary>();
  readonly calls: string[] = [];
  /** What `logs` returns. */
  output = '';
  /** The next `pull` rejects with this. */
  pullError: Error | undefined;
  /** What a pull reports it fetched (0: no progress at all). */
  pullBytes = 0;
  /** The next `rename` rejects with this. */
  renameError: Error | undefined;
  /** How many times `list` and `hasImage` were called. */
  lists = 0;
  imageChecks = 0;
  /** When set, `create` rejects with 404 for an image not in `images`, as Docker does. */
  strictImages = false;
  /** While set, events wait here (an event stream that lags), until `releaseEvents`. */
  heldEvents: ContainerEvent[] | undefined;
  private seq = 0;
  private readonly emitted = new Subject<ContainerEvent>();

  constructor(private readonly now: () => number = () => 0) {}

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    this.lists++;
    // Newest first, as Docker lists them.
    return [...this.containers.values()]
      .filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v))
      .reverse()
      .map(({ id, name, labels: l, state }) => ({ id, name, labels: l, state }));
  }

  async inspect(idOrName: string): Promise<ContainerDetails | undefined> {
    const c = this.find(idOrName);
    if (!c) return undefined;
    const { image: _image, mounts: _mounts, ...details } = c;
    return { ...details, labels: { ...c.labels }, hostPorts: { ...c.hostPorts } };
  }

  async create(spec: CreateSpec): Promise<string> {
    this.calls.push(`create ${spec.name}`);
    if (this.find(spec.name)) throw Object.assign(new Error(`Conflict. The container name "/${spec.name}" is already in use`), { statusCode: 409 });
    if (this.strictImages && !this.images.has(spec.image)) throw Object.assign(new Error(`No such image: ${spec.image}`), { statusCode: 404 });
    const id = `c${++this.seq}`;
    const hostPorts = Object.fromEntries(spec.ports.map((p, i) => [`${p.port}/${p.protocol}`, 32_000 + this.seq * 10 + i]));
    this.containers.set(id, { id, name: spec.name, image: spec.image, labels: { ...spec.labels }, state: 'created', running: false, exitCode: 0, hostPorts, env: [...spec.env], mounts: [...(spec.mounts ?? [])], ...(spec.entrypoint ? { entrypoint: [...spec.entrypoint] } : {}), ...(spec.cmd ? { cmd: [...spec.cmd] } : {}) });
    this.emit(id, 'create');
    return id;
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    const c = this.must(id);
    // A started container's health check starts over, as Docker's does.
    Object.assign(c, { state: 'running', running: true, startedAt: new Date(this.now()).toISOString(), health: undefined, oomKilled: undefined });
    this.emit(id, 'start');
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    this.calls.push(`stop ${id} ${graceSeconds}`);
    const c = this.find(id);
    if (c?.running) this.exit(id, 0);
  }

  async remove(id: string): Promise<void> {
    this.calls.push(`remove ${id}`);
    const c = this.containers.get(id);
    this.containers.delete(id);
    if (c) this.emit(id, 'destroy', c);
  }

  async rename(id: string, name: string): Promise<void> {
    this.calls.push(`rename ${id} ${name}`);
    const err = this.renameError;
    this.renameError = undefined;
    if (err) throw err;
    this.must(id).name = name;
    this.emit(id, 'rename');
  }

  async hasImage(ref: string): Promise<boolean> {
    this.imageChecks++;
    return this.images.has(ref);
  }

  /** Every image's default command, unless a test sets one. */
  readonly imageCommands = new Map<string, ImageCommand>();

  async imageCommand(ref: string): Promise<ImageCommand> {
    this.calls.push(`imageCommand ${ref}`);
    if (this.strictImages && !this.images.has(ref)) throw Object.assign(new Error(`No such image: ${ref}`), { statusCode: 404 });
    return this.imageCommands.get(ref) ?? { entrypoint: [], cmd: ['sh'] };
  }

  async pull(ref: string, options: PullOptions = {}): Promise<void> {
    this.calls.push(`pull ${ref}`);
    this.pullAuths.set(ref, options.auth);
    const err = this.pullError;
    this.pullError = undefined;
    if (err) throw err;
    if (this.pullBytes) options.onProgress?.({ current: this.pullBytes, total: this.pullBytes });
    this.images.add(ref);
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    this.calls.push(`createVolume ${name}`);
    if (!this.volumes.has(name)) this.volumes.set(name, { name, labels: { ...labels } });
  }

  async listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]> {
    return [...this.volumes.values()].filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).map((v) => ({ name: v.name, labels: { ...v.labels } }));
  }

  async removeVolume(name: string): Promise<void> {
    this.calls.push(`removeVolume ${name}`);
    if ([...this.containers.values()].some((c) => c.mounts.some((m) => m.type === 'volume' && m.source === name))) {
      throw Object.assign(new Error(`remove ${name}: volume is in use`), { statusCode: 409 });
    }
    this.volumes.delete(name);
  }

  /** The mounts a container was created with. */
  mountsOf(idOrName: string): NonNullable<CreateSpec['mounts']> {
    return this.must(idOrName).mounts;
  }

  async info(): Promise<EngineInfo> {
    return { cpus: 2, memoryBytes: 2 ** 30, version: 'fake' };
  }

  async bridgeGateway(): Promise<string | undefined> {
    return '172.17.0.1';
  }

  async logs(): Promise<string> {
    return this.output;
  }

  events(labels: Record<string, string>): Observable<ContainerEvent> {
    return this.emitted.pipe(filter((ev) => Object.entries(labels).every(([k, v]) => ev.labels[k] === v)), startWith({ id: '', action: STREAM_CONNECTED, labels: {} }));
  }

  /** The container's process ends with `code`, now. */
  exit(id: string, code: number): void {
    Object.assign(this.must(id), { state: 'exited', running: false, exitCode: code, finishedAt: new Date(this.now()).toISOString() });
    this.emit(id, 'die');
  }

  /** The kernel kills the container's process for passing its memory limit, now: exit 137, as Docker reports it. */
  oomKill(id: string): void {
    this.exit(id, 137);
    this.must(id).oomKilled = true;
  }

  /** Adds a container as if made earlier (by this or another agent, or by hand). */
  add(c: Partial<FakeContainer> & { name: string; labels: Record<string, string> }): string {
    const id = c.id ?? `c${++this.seq}`;
    this.containers.set(id, { id, image: 'x', state: 'running', running: true, exitCode: 0, hostPorts: {}, env: [], mounts: [], ...c });
    this.emit(id, 'create');
    if (this.containers.get(id)!.running) this.emit(id, 'start');
    return id;
  }

  /** Docker's event: the container's labels and its `name`. */
  private emit(id: string, action: string, gone?: FakeContainer): void {
    const c = gone ?? this.containers.get(id)!;
    const ev = { id, action, labels: { ...c.labels, name: c.name } };
    if (this.heldEvents) this.heldEvents.push(ev);
    else this.emitted.next(ev);
  }

  /** Sends the events held since `heldEvents` was set, and stops holding them. */
  releaseEvents(): void {
    const held = this.heldEvents ?? [];
    this.heldEvents = undefined;
    for (const ev of held) this.emitted.next(ev);
  }

  private find(idOrName: string): FakeContainer | undefined {
    return this.containers.get(idOrName) ?? [...this.containers.values()].find((c) => c.name === idOrName);
  }

  private must(id: string): FakeContainer {
    const c = this.find(id);
    if (!c) throw Object.assign(new Error(`No such container: ${id}`), { statusCode: 404 });
    return c;
  }
}
