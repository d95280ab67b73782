import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { Keys } from '../api/keys.js';
import type Docker from 'dockerode';
import type { Engines, RunningContainer } from './engines.js';

const exec = promisify(execFile);

/** The workload of every converge benchmark: the lab's busybox image, sleeping. */
export const IMAGE = 'dokkaa/busybox:latest';
export const CMD = ['sleep', '3600'];

/**
 * One way of running N replicas of the workload on the lab's engines: Dokkaa (a manifest
 * in etcd), Docker Swarm mode (a service), or the floor (create + start straight through
 * each engine's API). `deploy`, `scale` and `remove` return once the request is made; the
 * benchmark then watches the engines (see Engines) for the result.
 */
export interface System {
  readonly name: string;
  deploy(id: string, replicas: number): Promise<void>;
  scale(id: string, replicas: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** Whether a running container belongs to deployment `id`. */
  owns(c: RunningContainer, id: string): boolean;
  /** Docker label filter (`k=v`) matching every container of deployment `id`, running or not. */
  labelFilter(id: string): string;
}

/** Waits until no container (running or stopped) of `id` is left on any engine that answers. */
export async function waitGone(engines: Engines, sys: System, id: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let left = 0;
    for (const n of engines.nodes) {
      if (!engines.isConnected(n.name)) continue;
      try {
        left += (await engines.engine(n.name).listContainers({ all: true, filters: { label: [sys.labelFilter(id)] } })).length;
      } catch {
        // engine going away: counts as empty
      }
    }
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`${sys.name} ${id}: ${left} container(s) still there after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export class DokkaaSystem implements System {
  readonly name = 'Dokkaa';
  private readonly keys: Keys;

  constructor(private readonly etcd: Etcd3, private readonly prefix: string, private readonly image = 'dokkaa/busybox') {
    this.keys = new Keys(prefix);
  }

  /** The same, running `image` (e.g. a registry's, for cold converges). */
  withImage(image: string): DokkaaSystem {
    return new DokkaaSystem(this.etcd, this.prefix, image);
  }

  private manifest(replicas: number): string {
    return JSON.stringify({ image: this.image, command: CMD, scale: replicas });
  }

  async deploy(id: string, replicas: number): Promise<void> {
    await this.etcd.put(this.keys.manifest(id, 'svc')).value(this.manifest(replicas));
  }

  scale(id: string, replicas: number): Promise<void> {
    return this.deploy(id, replicas);
  }

  async remove(id: string): Promise<void> {
    await this.etcd.delete().key(this.keys.manifest(id, 'svc'));
  }

  owns(c: RunningContainer, id: string): boolean {
    return c.labels['dokkaa.app'] === id;
  }

  labelFilter(id: string): string {
    return `dokkaa.app=${id}`;
  }
}

/**
 * Docker Swarm mode on the lab's engines: n1 manages, the others join as workers. The
 * image is given by its ID: a swarm worker otherwise first tries to pull a tag from its
 * registry even with --no-resolve-image, and with no registry reachable here each such
 * attempt waits out a 10 s DNS timeout, a cost of this machine, not of Swarm. By ID (the
 * same on every engine: they loaded the same saved image) the worker skips the pull.
 */
export class SwarmSystem implements System {
  readonly name: string;
  private image = '';
  /** Swarm node id per lab node. */
  readonly nodeIds = new Map<string, string>();

  /**
   * `byTag`: give the image by its tag, as users usually do; every task then first tries
   * the registry (see above). Only to show what that costs here; shares the swarm of the
   * main instance (`from`).
   */
  constructor(private readonly nodes: { name: string; socket: string; address: string }[], private readonly opts: { byTag?: boolean; from?: SwarmSystem; image?: string } = {}) {
    this.name = opts.byTag && !opts.image ? 'Swarm, image by tag' : 'Swarm';
  }

  /** The same swarm, services given the image by tag (`image`, default the lab's busybox). */
  byTag(image?: string): SwarmSystem {
    return new SwarmSystem(this.nodes, { byTag: true, from: this, ...(image ? { image } : {}) });
  }

  private docker(node: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
    const n = this.nodes.find((x) => x.name === node)!;
    return exec('docker', ['-H', `unix://${n.socket}`, ...args], { timeout: 120_000 });
  }

  private get manager(): string {
    return this.nodes[0]!.name;
  }

  private joined = false;

  /** The swarm, once: set up on first use, again after leave(). */
  async ensureSwarm(): Promise<void> {
    if (this.opts.from) return this.opts.from.ensureSwarm();
    if (this.joined) return;
    await this.init();
    this.joined = true;
  }

  /** `docker swarm init` on the first node, `docker swarm join` (worker token) on the others. */
  private async init(): Promise<void> {
    const [first, ...rest] = this.nodes;
    await this.docker(first!.name, 'swarm', 'init', '--advertise-addr', first!.address);
    const token = (await this.docker(first!.name, 'swarm', 'join-token', '-q', 'worker')).stdout.trim();
    await Promise.all(rest.map((n) => this.docker(n.name, 'swarm', 'join', '--advertise-addr', n.address, '--token', token, `${first!.address}:2377`)));
    for (const n of this.nodes) this.nodeIds.set(n.name, (await this.docker(n.name, 'info', '--format', '{{.Swarm.NodeID}}')).stdout.trim());
    await this.waitNodesReady();
    this.image = (await this.docker(first!.name, 'image', 'inspect', '--format', '{{.Id}}', IMAGE)).stdout.trim();
  }

  /** Waits until the manager sees every node Ready. */
  async waitNodesReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = (await this.docker(this.manager, 'node', 'ls', '--format', '{{.ID}} {{.Status}}')).stdout;
      const ready = new Set(out.split('\n').filter((l) => l.endsWith(' Ready')).map((l) => l.split(' ')[0]));
      if ([...this.nodeIds.values()].every((id) => ready.has(id))) return;
      if (Date.now() > deadline) throw new Error(`swarm nodes not all Ready after ${timeoutMs / 1000} s:\n${out}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Every node leaves (workers first); errors ignored: the lab's teardown follows. */
  async leave(): Promise<void> {
    if (this.opts.from) return this.opts.from.leave();
    this.joined = false;
    for (const n of [...this.nodes].reverse()) await this.docker(n.name, 'swarm', 'leave', '--force').catch(() => undefined);
  }

  async deploy(id: string, replicas: number): Promise<void> {
    await this.ensureSwarm();
    const image = this.opts.image ?? (this.opts.byTag ? IMAGE : (this.opts.from ?? this).image);
    // A registry's image is resolved to its digest by the manager, as users get it by default.
    const resolve = this.opts.image ? [] : ['--no-resolve-image'];
    await this.docker(this.manager, 'service', 'create', '--detach', '--replicas', String(replicas), ...resolve, '--init', '--name', id, image, ...CMD);
  }

  async scale(id: string, replicas: number): Promise<void> {
    await this.docker(this.manager, 'service', 'scale', '--detach', `${id}=${replicas}`);
  }

  async remove(id: string): Promise<void> {
    await this.docker(this.manager, 'service', 'rm', id);
  }

  owns(c: RunningContainer, id: string): boolean {
    return c.labels['com.docker.swarm.service.name'] === id;
  }

  labelFilter(id: string): string {
    return `com.docker.swarm.service.name=${id}`;
  }
}

/**
 * The floor: what any orchestrator has to do at the least. Creates and starts the same
 * containers (image, command, Init, no restart policy) directly through each engine's API,
 * replica i on host i mod hosts, all hosts and all containers in parallel. Scaling down
 * stops (as the others do: SIGTERM, then remove) the highest replicas.
 */
export class FloorSystem implements System {
  readonly name = 'floor';
  private readonly replicas = new Map<string, number>();

  /** `cold`: `image` comes from a registry; each host pulls it once, then creates and starts its containers. */
  constructor(private readonly engines: Engines, private readonly opts: { image?: string; cold?: boolean } = {}) {}

  private nodeOf(i: number): string {
    return this.engines.nodes[i % this.engines.nodes.length]!.name;
  }

  private async create(id: string, i: number): Promise<void> {
    const docker = this.engines.engine(this.nodeOf(i));
    const c = await docker.createContainer({
      name: `${id}-${i}`,
      Image: this.opts.image ?? IMAGE,
      Cmd: CMD,
      Labels: { 'bench.id': id, 'bench.replica': String(i) },
      HostConfig: { Init: true, RestartPolicy: { Name: 'no' } },
    });
    await c.start();
  }

  private async destroy(id: string, i: number): Promise<void> {
    const c = this.engines.engine(this.nodeOf(i)).getContainer(`${id}-${i}`);
    await c.stop({ t: 10 }).catch(() => undefined);
    await c.remove({ force: true, v: true }).catch(() => undefined);
  }

  async deploy(id: string, replicas: number): Promise<void> {
    await this.scale(id, replicas);
  }

  async scale(id: string, replicas: number): Promise<void> {
    const current = this.replicas.get(id) ?? 0;
    this.replicas.set(id, replicas);
    const work: Promise<void>[] = [];
    if (this.opts.cold && replicas > current) {
      // Per host: one pull, then its containers in parallel; the hosts side by side.
      const byHost = new Map<string, number[]>();
      for (let i = current; i < replicas; i++) byHost.set(this.nodeOf(i), [...(byHost.get(this.nodeOf(i)) ?? []), i]);
      for (const [node, indices] of byHost) work.push(pullImage(this.engines.engine(node), this.opts.image!).then(() => Promise.all(indices.map((i) => this.create(id, i)))).then(() => undefined));
    } else {
      for (let i = current; i < replicas; i++) work.push(this.create(id, i));
    }
    for (let i = replicas; i < current; i++) work.push(this.destroy(id, i));
    await Promise.all(work);
  }

  async remove(id: string): Promise<void> {
    await this.scale(id, 0);
    this.replicas.delete(id);
  }

  owns(c: RunningContainer, id: string): boolean {
    return c.labels['bench.id'] === id;
  }

  labelFilter(id: string): string {
    return `bench.id=${id}`;
  }
}

/** `docker pull ref` through one engine, to the end of its progress stream. */
export async function pullImage(docker: Docker, ref: string): Promise<void> {
  const stream = (await docker.pull(ref)) as NodeJS.ReadableStream;
  await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve(undefined))));
}
