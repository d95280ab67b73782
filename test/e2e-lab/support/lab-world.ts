import 'reflect-metadata';
import { after, afterEach, before } from 'node:test';
import { readFileSync, statSync } from 'node:fs';
import Docker from 'dockerode';
import { Etcd3 } from 'etcd3';
import { Keys } from '../../../api/keys.js';
import { decodeRecord, EndpointRecord, NodeRecord, PlacementRecord, ReplicaRecord, StatusRecord } from '../../../api/records.js';
import { controllerLogPath, etcdFlags, isLiveRegistration, labAddHost, labEtcdOptions, labDown, labLayout, labUp, nodeRecords, readLeader, readState, type HostCapacity, type LabNodeState, type LabState, type LabUpOptions } from '../../../lab/index.js';
import { demuxFrames } from '../../../src/docker/log-frames.js';
import { waitFor } from '../../e2e/support/world.js';
import { SHARED_LAB_ENV } from './shared-lab.js';

/**
 * One test file's multi-host lab (`dokkaa lab up` through its exported functions) and
 * clients to look at the world directly: etcd at the lab's address, and every host's
 * Docker Engine through its unix socket (reachable from here even while the host is
 * partitioned or its agent is dead).
 */

/** A lab test's manifests: the busybox httpd service of the tutorial, under another service name. */
export const webManifest = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: ['httpd', '-f', '-p', '80', '-h', '/www'],
  services: { web: 80 },
  ...extra,
});

/** One lab host as a test wants it: its size (what its agent reports, no reserve) and labels. */
export interface LabHost {
  capacity?: HostCapacity;
  labels?: Record<string, string>;
}

/**
 * What a test's lab is: labUp's options, or `hosts` (n1, n2, ... in order), which sets the
 * number of nodes, their labels and their sizes at once.
 */
export type LabWorldOptions = LabUpOptions & { name: string; hosts?: LabHost[] };

function upOptions(opts: LabWorldOptions): LabUpOptions & { name: string } {
  const { hosts, ...rest } = opts;
  if (!hosts) return rest;
  const byNode = <T>(pick: (h: LabHost) => T | undefined) => Object.fromEntries(hosts.flatMap((h, i) => (pick(h) ? [[`n${i + 1}`, pick(h)!]] : [])));
  return { ...rest, nodes: hosts.length, labels: byNode((h) => h.labels), capacities: byNode((h) => h.capacity) };
}

export interface Container {
  id: string;
  node: string;
  replica: number;
  state: string;
  running: boolean;
  /** Published host port of the container's port 80, if any. */
  port80?: number;
}

/** What users write into a cluster, as sections (key prefixes) and single keys. */
function userWritten(k: Keys): { sections: string[]; keys: string[] } {
  return {
    sections: [k.apps, k.secrets, k.configs, k.registries, k.certs, k.restarts, k.prepulls, k.moves, k.maintenance],
    keys: [k.policy, k.routerConfig],
  };
}

/** What the cluster derives from users' work and removes once that is gone. */
function derivedFromUsers(k: Keys): string[] {
  return [k.placements, k.replicas, k.endpoints, k.sealed, k.sealedRegistries, k.volumes, k.routes];
}

export class LabWorld {
  readonly keys: Keys;
  readonly etcd: Etcd3;
  private readonly engines = new Map<string, Docker>();
  /** The lab's progress lines, printed only if something fails. */
  readonly labLines: string[];

  /** `shared`: the run's shared lab (shared-lab.ts), which this file must leave as it found it. */
  private constructor(readonly state: LabState, labLines: string[], private readonly shared = false) {
    this.labLines = labLines;
    this.keys = new Keys(state.prefix);
    this.etcd = new Etcd3(labEtcdOptions(state, { dialTimeout: 3_000 }));
    for (const n of state.nodes) this.engines.set(n.name, new Docker({ socketPath: n.dockerSocket, timeout: 10_000 }));
  }

  /**
   * Brings up a fresh lab: anything left under this name by an earlier, crashed run is
   * removed first. On failure the lab is torn down again before rethrowing.
   */
  static async up(opts: LabWorldOptions): Promise<LabWorld> {
    const lines: string[] = [];
    const say = (l: string) => lines.push(`${new Date().toISOString()} ${l}`);
    await labDown(opts.name, { say });
    try {
      const r = await labUp({ logLevel: 'info', ...upOptions(opts), say });
      say(`lab ${opts.name} up in ${(r.elapsedMs / 1000).toFixed(1)} s`);
      return new LabWorld(r.state, lines);
    } catch (err) {
      console.error(lines.join('\n'));
      await labDown(opts.name, { say }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The run's shared lab (shared-lab.ts) in place of a lab of the file's own, `opts`. Fails if
   * the shared lab does not satisfy `opts`, or is not whole (a host down or unregistered, no
   * leader), or not clean (what an earlier file left).
   */
  static async attach(sharedName: string, opts: LabWorldOptions): Promise<LabWorld> {
    const state = readState(labLayout(sharedName));
    if (!state) throw new Error(`the shared lab ${sharedName} is not up (no state file)`);
    const misfit = sharedLabMisfit(opts, state);
    if (misfit) throw new Error(`lab ${opts.name} cannot run on the shared lab ${sharedName}: ${misfit}`);
    const w = new LabWorld(state, [`${new Date().toISOString()} lab ${opts.name}: on the shared lab ${sharedName}`], true);
    try {
      await w.checkWhole();
      const left = await w.leftovers();
      if (left.length) throw new Error(`the shared lab ${sharedName} is not clean: ${left.join('; ')}`);
    } catch (err) {
      w.etcd.close();
      throw err;
    }
    return w;
  }

  /**
   * A host joins the running lab (the next nI) with the given size and labels; resolves
   * once it has registered. Its engine is then reachable like the others'.
   */
  async addHost(host: LabHost = {}): Promise<LabNodeState> {
    if (this.shared) throw new Error(`lab ${this.name} is shared: no host may join it`);
    const r = await labAddHost({ name: this.name, ...(host.capacity ? { capacity: host.capacity } : {}), ...(host.labels ? { labels: host.labels } : {}), say: this.say });
    this.state.nodes.splice(0, this.state.nodes.length, ...r.state.nodes);
    this.engines.set(r.node.name, new Docker({ socketPath: r.node.dockerSocket, timeout: 10_000 }));
    return r.node;
  }

  /** Collects a lab function's progress lines (pass as `say`). */
  readonly say = (l: string): void => {
    this.labLines.push(`${new Date().toISOString()} ${l}`);
  };

  get name(): string {
    return this.state.name;
  }

  /** The CLI's flags for this lab's etcd and prefix, as its admin (TLS files included). */
  cliFlags(): string[] {
    return [...etcdFlags(this.state, 'admin'), '--prefix', this.state.prefix];
  }

  node(name: string): LabNodeState {
    const n = this.state.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** The lab's state file as it is now (fault commands rewrite it; `state` is as of `up`). */
  currentState(): LabState {
    const s = readState(labLayout(this.name));
    if (!s) throw new Error(`lab ${this.name} has no state file`);
    return s;
  }

  get nodeNames(): string[] {
    return this.state.nodes.map((n) => n.name);
  }

  engine(node: string): Docker {
    return this.engines.get(node)!;
  }

  async putManifest(app: string, name: string, manifest: unknown): Promise<void> {
    await this.etcd.put(this.keys.manifest(app, name)).value(JSON.stringify(manifest));
  }

  /** The keys under `prefix` in the lab's etcd. */
  async keysUnder(prefix: string): Promise<string[]> {
    return Object.keys(await this.etcd.getAll().prefix(prefix).strings());
  }

  async status(app: string, name: string): Promise<StatusRecord | undefined> {
    return decodeRecord(StatusRecord, await this.etcd.get(this.keys.status(app, name)).string());
  }

  async nodeRecord(node: string): Promise<NodeRecord | undefined> {
    return decodeRecord(NodeRecord, await this.etcd.get(this.keys.node(node)).string());
  }

  async leader() {
    return readLeader(this.state);
  }

  /** The manifest's placements, from `placements/<node>/<app>/<name>/<replica>` keys. */
  async placements(app: string, name: string): Promise<{ node: string; replica: number; record: PlacementRecord }[]> {
    const all = await this.etcd.getAll().prefix(this.keys.placements).strings();
    const found: { node: string; replica: number; record: PlacementRecord }[] = [];
    for (const [key, value] of Object.entries(all)) {
      const p = this.keys.parsePlacement(key);
      if (p && p.app === app && p.name === name) found.push({ node: p.node, replica: p.replica, record: decodeRecord(PlacementRecord, value)! });
    }
    return found.sort((a, b) => a.replica - b.replica || a.node.localeCompare(b.node));
  }

  /** One manifest's replica records, from every host's `node-replicas/<node>/`. */
  async replicaRecords(app: string, name: string): Promise<ReplicaRecord[]> {
    const all = await this.valuesWhere(this.keys.replicas, (k) => this.keys.parseReplica(k), (at) => at.app === app && at.name === name);
    return all.map((v) => decodeRecord(ReplicaRecord, v)!).sort((a, b) => a.replica - b.replica);
  }

  /** One service's endpoints, from every host's `node-endpoints/<node>/`. */
  async endpoints(app: string, service: string): Promise<EndpointRecord[]> {
    const all = await this.valuesWhere(this.keys.endpoints, (k) => this.keys.parseEndpoint(k), (at) => at.app === app && at.service === service);
    return all.map((v) => decodeRecord(EndpointRecord, v)!).sort((a, b) => a.replica - b.replica);
  }

  /** One manifest's events, whoever wrote them. */
  async eventValues(app: string, name: string): Promise<string[]> {
    return this.valuesWhere(this.keys.events, (k) => this.keys.parseEvent(k), (at) => at.app === app && at.name === name);
  }

  private async valuesWhere<K>(section: string, parse: (key: string) => K | undefined, match: (at: K) => boolean): Promise<string[]> {
    const all = await this.etcd.getAll().prefix(section).strings();
    return Object.entries(all).filter(([k]) => { const at = parse(k); return at !== undefined && match(at); }).map(([, v]) => v);
  }

  /**
   * The manifest's containers on one host's engine, straight from Docker (`docker ps`,
   * with `all` also stopped ones). Throws if the engine does not answer.
   */
  async containersOn(node: string, app: string, name: string, all = true): Promise<Container[]> {
    const list = await this.engine(node).listContainers({ all, filters: { label: [`dokkaa.app=${app}`, `dokkaa.name=${name}`] } });
    return list.map((c) => ({
      id: c.Id,
      node,
      replica: Number(c.Labels['dokkaa.replica']),
      state: c.State,
      running: c.State === 'running',
      ...(c.Ports.find((p) => p.PrivatePort === 80 && p.PublicPort) ? { port80: c.Ports.find((p) => p.PrivatePort === 80 && p.PublicPort)!.PublicPort } : {}),
    }));
  }

  /** containersOn for each of `nodes` (default all), in parallel. */
  async containers(app: string, name: string, opts: { all?: boolean; nodes?: string[] } = {}): Promise<Map<string, Container[]>> {
    const nodes = opts.nodes ?? this.nodeNames;
    const lists = await Promise.all(nodes.map((n) => this.containersOn(n, app, name, opts.all ?? true)));
    return new Map(nodes.map((n, i) => [n, lists[i]!]));
  }

  /** Running containers of the manifest per node (`docker ps` on each engine). */
  async runningCounts(app: string, name: string, nodes?: string[]): Promise<Record<string, number>> {
    const byNode = await this.containers(app, name, { all: false, ...(nodes ? { nodes } : {}) });
    return Object.fromEntries([...byNode].map(([n, cs]) => [n, cs.filter((c) => c.running).length]));
  }

  async env(node: string, containerId: string): Promise<Record<string, string>> {
    const info = await this.engine(node).getContainer(containerId).inspect();
    return Object.fromEntries((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  }

  async logs(node: string, containerId: string): Promise<string> {
    const buf = (await this.engine(node).getContainer(containerId).logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demuxFrames(buf).toString();
  }

  /**
   * Deletes everything users write (manifests, secrets, configs, registry logins,
   * certificates, policy, ...), then waits until the cluster has removed what it derived
   * from them (placements, replica and endpoint records, sealed copies) and every host its
   * containers, and checks that the lab is still whole. Throws, naming what is left, if it
   * is not clean within `timeoutMs`.
   */
  async leaveClean(timeoutMs = 60_000): Promise<void> {
    const user = userWritten(this.keys);
    await Promise.all([...user.sections.map((s) => this.etcd.delete().prefix(s)), ...user.keys.map((k) => this.etcd.delete().key(k))]);
    let left: string[] = [];
    try {
      await waitFor('the lab clean', async () => ((left = await this.leftovers()).length === 0 ? true : undefined), timeoutMs, 250);
    } catch {
      throw new Error(`lab ${this.name} not clean ${timeoutMs / 1000} s after its manifests and the rest were deleted: ${left.join('; ')}`);
    }
    await this.checkWhole();
  }

  /** What of users' work is in the lab: keys users write or the cluster derives from them, containers and volumes on the engines. */
  private async leftovers(): Promise<string[]> {
    const user = userWritten(this.keys);
    const sections = [...user.sections, ...derivedFromUsers(this.keys)];
    const keys = (await Promise.all([
      ...sections.map((s) => this.keysUnder(s)),
      ...user.keys.map(async (k) => ((await this.etcd.get(k).string()) === null ? [] : [k])),
    ])).flat();
    const onEngines = await Promise.all(this.nodeNames.map(async (n) => {
      const containers = await this.engine(n).listContainers({ all: true, filters: { label: ['dokkaa.app'] } });
      const volumes = (await this.engine(n).listVolumes({ filters: { label: ['dokkaa.app'] } })).Volumes ?? [];
      return [
        ...containers.map((c) => `${n}: container ${c.Labels['dokkaa.app']}/${c.Labels['dokkaa.name']}/${c.Labels['dokkaa.replica']} (${c.State})`),
        ...volumes.map((v) => `${n}: volume ${v.Name}`),
      ];
    }));
    return [...(keys.length ? [`keys ${keys.slice(0, 10).join(' ')}${keys.length > 10 ? ` and ${keys.length - 10} more` : ''}`] : []), ...onEngines.flat()];
  }

  /** Waits until every host is up and registered and one of the lab's controllers leads: a lab of a file's own may still be registering its hosts. */
  async untilWhole(timeoutMs = 30_000): Promise<void> {
    let why = '';
    await waitFor(`lab ${this.name} whole`, async () => this.checkWhole().then(() => true, (err: Error) => void (why = err.message)), timeoutMs, 200).catch(() => {
      throw new Error(why || `lab ${this.name} not whole after ${timeoutMs / 1000} s`);
    });
  }

  /** Throws unless every host is up and registered under its current agent, and one of the lab's controllers leads. */
  private async checkWhole(): Promise<void> {
    const state = this.currentState();
    const records = await nodeRecords(state);
    const down = state.nodes.filter((n) => n.killed || n.partitioned || !isLiveRegistration(n, records?.get(n.name))).map((n) => n.name);
    if (down.length) throw new Error(`lab ${this.name}: not whole: ${down.join(', ')} down, cut off or not registered`);
    const leader = await readLeader(state);
    if (!leader || !state.controllers.some((c) => c?.pid === leader.pid)) throw new Error(`lab ${this.name}: not whole: no controller of the lab leads`);
  }

  /** The lab's progress and the tail of every process log: printed when a test failed. */
  diagnostics(lines = 40): string {
    const tail = (file: string) => {
      try {
        return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    };
    const parts = [`--- lab ${this.name}: progress\n${this.labLines.join('\n')}`];
    for (const n of this.state.nodes) parts.push(`--- ${n.name} agent log (tail)\n${tail(n.agentLog)}`);
    for (let i = 1; i <= this.state.controllers.length; i++) parts.push(`--- controller ${i} log (tail)\n${tail(controllerLogPath(this.state, i))}`);
    return parts.join('\n');
  }

  /**
   * Closes the clients and removes the whole lab; a shared lab is left running, clean (see
   * leaveClean). Prints diagnostics first if `failed`.
   */
  async down(failed: boolean): Promise<void> {
    if (failed) console.error(this.diagnostics());
    if (this.shared) {
      try {
        await this.leaveClean();
      } catch (err) {
        if (!failed) console.error(this.diagnostics());
        throw err;
      } finally {
        this.etcd.close();
      }
      return;
    }
    this.etcd.close();
    const r = await labDown(this.name, { say: this.say });
    if (r.problems.length) console.error(`lab ${this.name} teardown problems:\n  ${r.problems.join('\n  ')}`);
  }
}

/**
 * Registers hooks in the enclosing describe: a fresh lab before its tests, torn down after
 * them, with the lab's progress and process logs printed if any test failed. Returns a
 * getter for the lab (valid inside tests).
 */
export function useLab(opts: LabWorldOptions): () => LabWorld {
  return labHooks(opts.name, () => LabWorld.up(opts), () => downByName(opts.name));
}

/**
 * useLab for a file that leaves a lab as it found it: it kills or cuts off no host, restarts
 * no etcd, agent or controller, changes no lab-wide setting, and names its apps (and
 * registry hosts, certificate names) its own. With DOKKAA_TEST_SHARED_LAB set (scripts/test.sh)
 * it runs on that lab, which must satisfy `opts` (at least as many hosts, the same TTL, the
 * labels asked for; nothing else), and removes what it made afterwards (LabWorld.leaveClean);
 * otherwise, e.g. run alone, it brings up a lab of its own as `opts` says.
 */
export function useSharedLab(opts: LabWorldOptions): () => LabWorld {
  const shared = process.env[SHARED_LAB_ENV];
  if (!shared) return useLab(opts);
  return labHooks(opts.name, () => LabWorld.attach(shared, opts), async () => undefined);
}

/** Why the shared lab `state` cannot stand in for a lab brought up with `opts`; undefined if it can. */
function sharedLabMisfit(opts: LabWorldOptions, state: LabState): string | undefined {
  const { name: _name, nodes = 3, ttlSeconds, labels = {}, logLevel: _logLevel, ...others } = opts;
  const given = Object.entries(others).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (given.length) return `it asks for ${given.join(', ')}`;
  if (nodes > state.nodes.length) return `it needs ${nodes} hosts, the shared lab has ${state.nodes.length}`;
  if (ttlSeconds !== state.ttlSeconds) return `it needs a ${ttlSeconds ?? 'default'} s TTL, the shared lab has ${state.ttlSeconds} s`;
  if (state.bare || state.tls === false || state.controllers.length !== 1 || (state.etcdMemberCount ?? 1) !== 1) return 'the shared lab is not a plain one';
  for (const [node, want] of Object.entries(labels)) {
    const has = state.nodes.find((n) => n.name === node)?.labels ?? {};
    const missing = Object.entries(want).filter(([k, v]) => has[k] !== v);
    if (missing.length) return `${node} lacks the labels ${missing.map(([k, v]) => `${k}=${v}`).join(', ')}`;
  }
  return undefined;
}

/**
 * Registers hooks in the enclosing describe: `bring` the lab before its tests, `down` after
 * them (with the lab's progress and process logs printed if any test failed; `orElse` when
 * `bring` failed). Returns a getter for the lab (valid inside tests).
 */
function labHooks(name: string, bring: () => Promise<LabWorld>, orElse: () => Promise<void>): () => LabWorld {
  let lab: LabWorld | undefined;
  let failed = false;
  before(async () => {
    lab = await bring();
  });
  // afterEach gets the test's context; `passed` (Node >= 20.12) is missing from @types/node here.
  afterEach((t) => {
    if ((t as { passed?: boolean }).passed !== true) failed = true;
  });
  after(async () => {
    if (lab) await lab.down(failed);
    else await orElse();
  });
  return () => {
    if (!lab) throw new Error(`lab ${name} is not up`);
    return lab;
  };
}

/** Tears down a lab by name (for `after` when `up` itself failed before a LabWorld existed). */
export async function downByName(name: string): Promise<void> {
  await labDown(name, { say: () => undefined }).catch((err: unknown) => console.error(`lab ${name} teardown failed: ${(err as Error).message}`));
}

export interface Sample<T> {
  at: number;
  value: T;
}

/**
 * Calls `probe` every `everyMs` (measured from the start of one call to the next) until
 * stopped, keeping every answer with the time it arrived. Probe errors are kept as
 * undefined values rather than ending the sampling.
 */
export class Sampler<T> {
  readonly samples: Sample<T | undefined>[] = [];
  readonly errors: string[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly probe: () => Promise<T>, private readonly everyMs = 100) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      try {
        const value = await this.probe();
        this.samples.push({ at: Date.now(), value });
      } catch (err) {
        this.samples.push({ at: Date.now(), value: undefined });
        this.errors.push((err as Error).message);
      }
      await sleepMs(Math.max(0, this.everyMs - (Date.now() - started)));
    }
  }

  /** The first sample at or after `since` for which `pred` holds. */
  first(pred: (v: T) => boolean, since = 0): Sample<T> | undefined {
    return this.samples.find((s) => s.at >= since && s.value !== undefined && pred(s.value)) as Sample<T> | undefined;
  }

  async until(what: string, pred: (v: T) => boolean, since: number, timeoutMs: number): Promise<Sample<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.first(pred, since);
      if (hit) return hit;
      if (Date.now() > deadline) {
        const last = this.samples.at(-1);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last sample: ${JSON.stringify(last?.value)}; probe errors: ${this.errors.slice(-3).join(' | ') || 'none'}`);
      }
      await sleepMs(25);
    }
  }

  async stop(): Promise<Sample<T | undefined>[]> {
    this.stopped = true;
    await this.loop;
    return this.samples;
  }
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sum of a per-node count record over `nodes` (default all). */
export function total(counts: Record<string, number>, nodes?: string[]): number {
  return (nodes ?? Object.keys(counts)).reduce((s, n) => s + (counts[n] ?? 0), 0);
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/** Whether `pid` is a live process: not missing and not a zombie (a SIGKILLed child of ours is one until reaped). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Whether process `pid` runs in network namespace `netns` (the same namespace inode). */
export function processInNetns(pid: number, netns: string): boolean {
  const a = statSync(`/proc/${pid}/ns/net`);
  const b = statSync(`/run/netns/${netns}`);
  return a.ino === b.ino && a.dev === b.dev;
}
