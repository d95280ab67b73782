import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Keys } from '../api/keys.js';
import { decodeRecord, LeaderRecord, NodeRecord } from '../api/records.js';
import { capacityArgs } from './host-capacity.js';
import { controllerLogPath } from './lab-layout.js';
import type { LabNodeState, LabState } from './lab-state.js';
import { netnsPath, processInNetns } from './netns.js';
import { isOurs, pidGone, spawnDetached, waitFor, type ProcessRecord } from './processes.js';
import { tail } from './lab-engine.js';
import { clusterKeyFile } from './lab-cluster-key.js';
import { etcdFlags, labEtcdOptions } from './lab-pki.js';
import { DAEMON_NODE_FLAGS } from '../src/daemon-node-flags.js';

/**
 * The Dokkaa processes of a lab: one `dokkaa agent` per host and K `dokkaa controller`s.
 *
 * Each agent runs INSIDE its host's network namespace, like the host's dockerd: it reaches
 * etcd at the bridge address through the host's veth, and its engine through the engine's
 * unix socket (a file: it works across network namespaces). So a partition (the veth
 * down) cuts the agent off from etcd while it keeps running, exactly as on a real host,
 * and it has to notice and fence itself. The controllers run in the root namespace.
 */

function binPath(state: LabState): string {
  return join(state.repoRoot, 'bin', 'dokkaa.js');
}

/**
 * Node's own flags for a lab process: those every Dokkaa daemon runs with, and with
 * DOKKAA_LAB_CPU_PROF_DIR set (a bench's profiling run) a V8 CPU profile written into
 * `<dir>/<name>` when it stops gracefully. NODE_OPTIONS cannot carry --cpu-prof, hence flags
 * of the command line.
 */
function nodeFlags(name: string): string[] {
  const dir = process.env.DOKKAA_LAB_CPU_PROF_DIR;
  return [...DAEMON_NODE_FLAGS, ...(dir ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`] : [])];
}

/**
 * The environment for lab processes: the caller's, minus DOKKAA_* (flags win over env, but
 * e.g. a DOKKAA_LABELS in the user's shell would still leak into every agent).
 */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOKKAA_')));
}

/**
 * The agent's command line as it runs (after nsenter has exec'd node): what identifies it
 * later (see isOurs) and what `up` compares to decide whether settings changed.
 */
export function agentArgv(state: LabState, node: LabNodeState): string[] {
  const labels = Object.entries(node.labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return [
    process.execPath, ...nodeFlags(node.name), binPath(state), 'agent',
    ...etcdFlags(state, { node: node.name }),
    '--docker', `unix://${node.dockerSocket}`,
    '--node', node.name,
    '--address', node.address,
    '--lease-ttl', String(state.ttlSeconds),
    '--prefix', state.prefix,
    '--log-level', state.logLevel,
    // Under the node's directory: its sealing key, its secrets' tmpfs (unmounted with the node) and
    // its router's haproxy files (a host of the same name in another lab must not share them).
    '--state-dir', join(node.dir, 'agent'),
    '--secrets-dir', join(node.dir, 'secrets'),
    '--router-dir', join(node.dir, 'router'),
    // No --cluster-key-file: secrets and registry credentials reach agents sealed to their own keys.
    ...labels.flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...capacityArgs(node.capacity),
  ];
}

/** Controllers use the lab's TTL too: it is also their leader-election lease. */
export function controllerArgv(state: LabState): string[] {
  return [
    process.execPath, ...nodeFlags('controller'), binPath(state), 'controller',
    ...etcdFlags(state, 'controller'),
    '--prefix', state.prefix,
    '--lease-ttl', String(state.ttlSeconds),
    '--log-level', state.logLevel,
    '--cluster-key-file', clusterKeyFile(state),
  ];
}

/**
 * Starts the node's agent inside its netns (`nsenter --net`, which execs node: the pid is
 * the agent's). Records the start time in `node.agentStartedAt`.
 */
export async function startAgent(state: LabState, node: LabNodeState): Promise<ProcessRecord> {
  const argv = agentArgv(state, node);
  node.agentStartedAt = Date.now();
  const pid = await spawnDetached('nsenter', [`--net=${netnsPath(node.netns)}`, ...argv], { cwd: state.repoRoot, env: childEnv(), log: node.agentLog });
  return { pid, argv };
}

/** Whether the node's recorded agent runs, and in the node's current netns. */
export function agentInNetns(node: LabNodeState): boolean {
  return isOurs(node.agent) && processInNetns(node.agent!.pid, node.netns);
}

/** Starts the i-th controller (1-based) in the root namespace. */
export async function startController(state: LabState, i: number): Promise<ProcessRecord> {
  const argv = controllerArgv(state);
  const pid = await spawnDetached(argv[0]!, argv.slice(1), { cwd: state.repoRoot, env: childEnv(), log: controllerLogPath(state, i) });
  return { pid, argv };
}

function client(state: LabState): Etcd3 {
  return new Etcd3(labEtcdOptions(state, { dialTimeout: 1_500 }));
}

/** The node records (`<prefix>/nodes/<name>`) in the lab's etcd; undefined if etcd does not answer. */
export async function nodeRecords(state: LabState): Promise<Map<string, NodeRecord> | undefined> {
  const etcd = client(state);
  const keys = new Keys(state.prefix);
  try {
    const all = await etcd.getAll().prefix(keys.nodes).strings();
    const found = new Map<string, NodeRecord>();
    for (const [key, value] of Object.entries(all)) {
      const name = keys.parseNode(key);
      const record = decodeRecord(NodeRecord, value);
      if (name && record) found.set(name, record);
    }
    return found;
  } catch {
    return undefined;
  } finally {
    etcd.close();
  }
}

/** Names of the nodes currently registered (`<prefix>/nodes/<name>`) in the lab's etcd. */
export async function registeredNodes(state: LabState): Promise<string[] | undefined> {
  const records = await nodeRecords(state);
  return records ? [...records.keys()].sort() : undefined;
}

/**
 * Whether `record` is a registration of the node's CURRENT agent: written at or after the
 * agent was spawned (a record of an earlier, killed agent stays until its lease expires),
 * with the node's address. `notBefore` raises the bar (e.g. the start of a partition).
 */
export function isLiveRegistration(node: LabNodeState, record: NodeRecord | undefined, notBefore = 0): boolean {
  if (!record || record.address !== node.address) return false;
  const startedAt = Date.parse(record.startedAt);
  return Number.isFinite(startedAt) && startedAt >= Math.max(node.agentStartedAt ?? 0, notBefore);
}

/**
 * Waits until every node in `nodes` shows a live registration of its current agent (see
 * isLiveRegistration; `notBefore` per node name if given). Fails early, with the agent's
 * log tail, if one of their agents exits.
 */
export async function waitRegistered(state: LabState, nodes: LabNodeState[], timeoutMs = 30_000, notBefore: Record<string, number> = {}): Promise<void> {
  let missing = nodes;
  let dead: LabNodeState | undefined;
  await waitFor(async () => {
    const records = (await nodeRecords(state)) ?? new Map<string, NodeRecord>();
    missing = nodes.filter((n) => !isLiveRegistration(n, records.get(n.name), notBefore[n.name]));
    dead = missing.find((n) => !n.agent || pidGone(n.agent.pid));
    return missing.length === 0 || !!dead;
  }, timeoutMs, 200);
  if (dead) throw new Error(`${dead.name}: agent exited; last lines of ${dead.agentLog}:\n${tail(dead.agentLog, 15)}`);
  if (missing.length) throw new Error(`no live registration in etcd after ${timeoutMs / 1000} s: ${missing.map((n) => n.name).join(', ')}\n${missing.map((n) => `last lines of ${n.agentLog}:\n${tail(n.agentLog, 15)}`).join('\n')}`);
}

/** The controllers' leader key (`<prefix>/election/controller`), if any and if etcd answers. */
export async function readLeader(state: LabState): Promise<LeaderRecord | undefined> {
  const etcd = client(state);
  try {
    return decodeRecord(LeaderRecord, (await etcd.get(new Keys(state.prefix).leader).string()) ?? undefined);
  } catch {
    return undefined;
  } finally {
    etcd.close();
  }
}

/**
 * How long after a controller took the lead, or a host registered, the leader's caches surely
 * hold that host: its informers list and watch within milliseconds of leading, and etcd brings
 * a watch that starts behind its head up to date in rounds of 100 ms. A manifest put sooner may
 * be placed as if the host were not there, and the scheduler moves nothing to a host that
 * joins later (as Kubernetes and Swarm do not): three replicas on two of three fresh hosts.
 */
export const LEADER_SEES_NODES_MS = 1_000;

/**
 * Waits until LEADER_SEES_NODES_MS have passed since `leader` took the lead and since each of
 * `nodes` registered (its record's `startedAt`, written by the same machine's clock); at once
 * for a lab that has been up a while.
 */
export async function waitLeaderSeesNodes(state: LabState, leader: LeaderRecord, nodes: LabNodeState[]): Promise<void> {
  const records = await nodeRecords(state);
  const times = [leader.since, ...nodes.map((n) => records?.get(n.name)?.startedAt ?? '')].map((t) => Date.parse(t)).filter(Number.isFinite);
  const waitMs = Math.max(...times) + LEADER_SEES_NODES_MS - Date.now();
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
}

/**
 * Waits until one of the lab's running controllers holds the leader key; returns it. Fails
 * early, with their log tails, if every controller has exited.
 */
export async function waitLeader(state: LabState, timeoutMs = 30_000): Promise<LeaderRecord> {
  let leader: LeaderRecord | undefined;
  const ours = () => state.controllers.filter((c): c is ProcessRecord => isOurs(c)).map((c) => c.pid);
  const allDead = () => state.controllers.every((c) => !c || pidGone(c.pid));
  await waitFor(async () => {
    leader = await readLeader(state);
    return (!!leader && ours().includes(leader.pid)) || allDead();
  }, timeoutMs, 200);
  if (!leader || !ours().includes(leader.pid)) {
    const logs = state.controllers.map((_, i) => `last lines of ${controllerLogPath(state, i + 1)}:\n${tail(controllerLogPath(state, i + 1), 15)}`).join('\n');
    const why = allDead() ? 'every controller exited' : `no running controller leads after ${timeoutMs / 1000} s (leader key: ${leader ? `pid ${leader.pid}` : 'none'})`;
    throw new Error(`lab ${state.name}: ${why}; ${logs}`);
  }
  return leader;
}
