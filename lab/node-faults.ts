import { agentInNetns, startAgent, waitRegistered } from './lab-agents.js';
import { currentDockerd, startDockerd, stopDockerd, waitEngine } from './lab-engine.js';
import { findNode, withLab, writeState, type LabNodeState, type LabState } from './lab-state.js';
import { linkExists, processInNetns, setLinkUp } from './netns.js';
import { isOurs, processState, signal, stopProcess } from './processes.js';

/**
 * Faults injected into one lab host, and their undoing:
 *
 * - kill-node: a hard host failure. The agent is SIGKILLed (no lease revoke, no goodbye:
 *   its node key lives until the lease TTL runs out) and the dockerd is stopped, which takes
 *   its containers down with it. The containers stay on disk, exited, as on a host that lost
 *   power; restore-node restarts dockerd and the agent, which must clean them up.
 * - partition: the host drops off the network while everything on it keeps running. The
 *   root-end veth goes down, so the netns (dockerd, containers AND the agent, which runs in
 *   it) loses etcd and the other hosts. The agent cannot renew its lease and must fence
 *   itself: remove its containers before its lease expires. The engine stays reachable from
 *   the machine through its unix socket, so tests can watch it do that.
 *   heal: link up. The agent reconnects, gets a new lease if the old one expired, and
 *   recreates whatever is still placed on it.
 *
 * restore-node and heal wait (unless `wait: false`) until the node shows a live
 * registration again, so that what follows sees the host back.
 */

export interface FaultOptions {
  name?: string;
  stateRoot?: string;
  say?: (line: string) => void;
  /** restore-node, heal: wait until the node has registered again (default true). */
  wait?: boolean;
  /** How long to wait for that; default 30 s plus three lease TTLs. */
  waitTimeoutMs?: number;
}

function registrationTimeoutMs(state: LabState, opts: FaultOptions): number {
  return opts.waitTimeoutMs ?? 30_000 + 3 * state.ttlSeconds * 1000;
}

/** withLab for a fault on one node: its state is written back afterwards. */
function withNode<T>(node: string, opts: FaultOptions, fn: (state: LabState, n: LabNodeState, say: (l: string) => void) => Promise<T>): Promise<T> {
  return withLab(opts, async (state, say) => {
    const result = await fn(state, findNode(state, node), say);
    writeState(state);
    return result;
  });
}

export function killNode(node: string, opts: FaultOptions = {}): Promise<void> {
  return withNode(node, opts, async (_state, n, say) => {
    const t0 = Date.now();
    const agent = await stopProcess(n.agent, 0, 'SIGKILL');
    n.killed = true; // recorded before the slow part, so `up` meanwhile cannot revive it
    const engine = await stopDockerd(n, n.dockerd);
    n.dockerd = undefined;
    const leftovers = engine.leftovers ? `, ${engine.leftovers} leftover process(es) killed` : '';
    say(`${n.name}: agent ${agent === 'gone' ? 'was not running' : 'SIGKILLed'}, dockerd ${engine.how === 'gone' ? 'was not running' : engine.how}${leftovers} (${Date.now() - t0} ms)`);
  });
}

export function restoreNode(node: string, opts: FaultOptions = {}): Promise<void> {
  return withNode(node, opts, async (state, n, say) => {
    if (n.partitioned) throw new Error(`${n.name} is partitioned; heal it first (dokkaa lab heal ${n.name})`);
    let engine = currentDockerd(n, n.dockerd);
    if (engine && !processInNetns(engine.pid, n.netns)) throw new Error(`${n.name}: dockerd pid ${engine.pid} runs outside ${n.netns}; run dokkaa lab up to repair`);
    if (!engine) {
      engine = await startDockerd(n);
      say(`${n.name}: started dockerd pid ${engine.pid}`);
    }
    n.dockerd = engine;
    await waitEngine(n, engine);
    if (!isOurs(n.agent)) {
      n.agent = await startAgent(state, n);
      say(`${n.name}: started agent pid ${n.agent.pid} in ${n.netns}`);
    }
    n.killed = false;
    writeState(state);
    if (opts.wait !== false) {
      const t0 = Date.now();
      await waitRegistered(state, [n], registrationTimeoutMs(state, opts));
      say(`${n.name}: registered again (${Date.now() - t0} ms after its agent was up)`);
    }
  });
}

export function partitionNode(node: string, opts: FaultOptions = {}): Promise<void> {
  return withNode(node, opts, async (_state, n, say) => {
    if (!(await linkExists(n.vethHost))) throw new Error(`${n.name}: veth ${n.vethHost} missing; run dokkaa lab up to repair`);
    // An agent outside the netns (a lab made before agents moved into it) would not be cut off.
    if (isOurs(n.agent) && !agentInNetns(n)) throw new Error(`${n.name}: agent pid ${n.agent!.pid} runs outside ${n.netns}, where a partition would not reach it; run dokkaa lab up to repair`);
    await setLinkUp(n.vethHost, false);
    if (!n.partitioned) n.partitionedAt = Date.now(); // when the link is down, not when asked (ip may be slow)
    n.partitioned = true;
    say(`${n.name}: partitioned (link ${n.vethHost} down; agent ${isOurs(n.agent) ? `pid ${n.agent!.pid} keeps running, cut off from etcd` : 'not running'})`);
  });
}

export function healNode(node: string, opts: FaultOptions = {}): Promise<void> {
  return withNode(node, opts, async (state, n, say) => {
    if (!(await linkExists(n.vethHost))) throw new Error(`${n.name}: veth ${n.vethHost} missing; run dokkaa lab up to repair`);
    const healedAt = Date.now();
    const partitionedAt = n.partitionedAt;
    await setLinkUp(n.vethHost, true);
    n.partitioned = false;
    n.partitionedAt = undefined;
    if (processState(n.agent) === 'stopped') {
      // Partitions of earlier lab versions froze the agent.
      signal(n.agent!.pid, 'SIGCONT');
      say(`${n.name}: healed (link up, agent pid ${n.agent!.pid} continued)`);
    } else if (!isOurs(n.agent) && !n.killed) {
      n.agent = await startAgent(state, n);
      say(`${n.name}: healed (link up, agent was gone: started pid ${n.agent.pid})`);
    } else {
      say(`${n.name}: healed (link up)`);
    }
    writeState(state);
    if (opts.wait !== false && !n.killed) {
      // After a partition longer than the TTL (plus etcd's slack in expiring leases) the old
      // lease is gone: only a record written since the partition began is live. A shorter
      // partition may have left the old lease, and its record, alive and renewed.
      const lapsed = partitionedAt !== undefined && healedAt - partitionedAt > (state.ttlSeconds + 1) * 1000;
      await waitRegistered(state, [n], registrationTimeoutMs(state, opts), lapsed ? { [n.name]: partitionedAt } : {});
      say(`${n.name}: registered again ${Date.now() - healedAt} ms after the link came up`);
    }
  });
}

/**
 * SIGKILLs one of the lab's controllers, named by pid (e.g. the leader's, from the
 * `election/controller` key). Refuses a pid that is not a running controller of this lab.
 * `up` starts a replacement.
 */
export function killController(pid: number, opts: Omit<FaultOptions, 'wait' | 'waitTimeoutMs'> = {}): Promise<void> {
  return withLab(opts, async (state, say) => {
    const i = state.controllers.findIndex((c) => c?.pid === pid && isOurs(c));
    if (i < 0) throw new Error(`pid ${pid} is not a running controller of lab ${state.name} (controllers: ${state.controllers.map((c) => c?.pid ?? '-').join(', ') || 'none'})`);
    await stopProcess(state.controllers[i], 0, 'SIGKILL');
    say(`controller ${i + 1} pid ${pid} SIGKILLed`);
  });
}
