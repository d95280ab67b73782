import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Keys } from '../../api/keys.js';
import type { LabNodeState, LabState } from './lab-state.js';
import { pidGone, spawnDetached, waitFor, type ProcessRecord } from './processes.js';
import { tail } from './lab-engine.js';

/**
 * The Dokkaa processes of a lab: one `dokkaa agent` per host and one `dokkaa controller`.
 * Agents run in the root network namespace: they reach etcd on the bridge address and their
 * engine through its unix socket; only the engine and its containers live in the netns.
 */

function binPath(state: LabState): string {
  return join(state.repoRoot, 'bin', 'dokkaa.js');
}

/**
 * The environment for lab processes: the caller's, minus DOKKAA_* (flags win over env, but
 * e.g. a DOKKAA_LABELS in the user's shell would still leak into every agent).
 */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOKKAA_')));
}

export function agentArgv(state: LabState, node: LabNodeState): string[] {
  return [
    process.execPath, binPath(state), 'agent',
    '--etcd', state.etcdClientUrl,
    '--docker', `unix://${node.dockerSocket}`,
    '--node', node.name,
    '--address', node.address,
    '--lease-ttl', String(state.ttlSeconds),
    '--prefix', state.prefix,
    '--log-level', state.logLevel,
  ];
}

export function controllerArgv(state: LabState): string[] {
  return [process.execPath, binPath(state), 'controller', '--etcd', state.etcdClientUrl, '--prefix', state.prefix, '--log-level', state.logLevel];
}

async function startNode(argv: string[], cwd: string, log: string): Promise<ProcessRecord> {
  const pid = await spawnDetached(argv[0]!, argv.slice(1), { cwd, env: childEnv(), log });
  return { pid, argv };
}

export function startAgent(state: LabState, node: LabNodeState): Promise<ProcessRecord> {
  return startNode(agentArgv(state, node), state.repoRoot, node.agentLog);
}

export function startController(state: LabState): Promise<ProcessRecord> {
  return startNode(controllerArgv(state), state.repoRoot, state.controllerLog);
}

/** Names of the nodes currently registered (`<prefix>/nodes/<name>`) in the lab's etcd. */
export async function registeredNodes(state: LabState): Promise<string[] | undefined> {
  const client = new Etcd3({ hosts: [state.etcdClientUrl], dialTimeout: 1_500 });
  const keys = new Keys(state.prefix);
  try {
    const all = await client.getAll().prefix(keys.nodes).keys();
    return all.map((k) => keys.parseNode(k)).filter((n): n is string => !!n).sort();
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/**
 * Waits until every node in `nodes` has registered itself. Fails early, with the agent's log
 * tail, if one of their agents exits.
 */
export async function waitRegistered(state: LabState, nodes: LabNodeState[], timeoutMs = 30_000): Promise<void> {
  let missing = nodes;
  let dead: LabNodeState | undefined;
  await waitFor(async () => {
    const live = new Set((await registeredNodes(state)) ?? []);
    missing = nodes.filter((n) => !live.has(n.name));
    dead = missing.find((n) => !n.agent || pidGone(n.agent.pid));
    return missing.length === 0 || !!dead;
  }, timeoutMs, 250);
  if (dead) throw new Error(`${dead.name}: agent exited; last lines of ${dead.agentLog}:\n${tail(dead.agentLog, 15)}`);
  if (missing.length) throw new Error(`nodes not registered in etcd after ${timeoutMs / 1000} s: ${missing.map((n) => `${n.name} (log ${n.agentLog})`).join(', ')}`);
}
