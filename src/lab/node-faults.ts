import { DEFAULT_LAB, LAB_ROOT, labLayout, requireRoot } from './lab-layout.js';
import { startAgent } from './lab-agents.js';
import { currentDockerd, startDockerd, stopDockerd, waitEngine } from './lab-engine.js';
import { findNode, lockLab, readState, writeState, type LabNodeState, type LabState } from './lab-state.js';
import { linkExists, processInNetns, setLinkUp } from './netns.js';
import { isOurs, processState, signal, stopProcess } from './processes.js';

/**
 * Faults injected into one lab host, and their undoing:
 *
 * - kill-node: a hard host failure. The agent is SIGKILLed (no lease revoke, no goodbye:
 *   its node key lives until the lease TTL runs out) and the dockerd is stopped, which takes
 *   its containers down with it. The containers stay on disk, exited, as on a host that lost
 *   power; restore-node restarts dockerd and the agent, which must clean them up.
 * - partition: the host drops off the network while everything keeps running. The root-end
 *   veth goes down, so the netns loses etcd and the other hosts. The agent runs in the root
 *   namespace and would still reach etcd over the bridge address, so it is frozen with
 *   SIGSTOP: from etcd's side its lease stops being renewed, exactly as for a cut-off host.
 *   (Unlike a real partition, the frozen agent cannot notice its own lease failing meanwhile.)
 *   heal: link up, SIGCONT.
 */

export interface FaultOptions {
  name?: string;
  stateRoot?: string;
  say?: (line: string) => void;
}

async function withNode<T>(node: string, opts: FaultOptions, fn: (state: LabState, n: LabNodeState, say: (l: string) => void) => Promise<T>): Promise<T> {
  const say = opts.say ?? ((l: string) => console.error(`[lab] ${l}`));
  requireRoot();
  const layout = labLayout(opts.name ?? DEFAULT_LAB, opts.stateRoot ?? LAB_ROOT);
  const release = lockLab(layout);
  try {
    const state = readState(layout);
    if (!state) throw new Error(`lab ${layout.name} is not up (no ${layout.stateFile})`);
    const result = await fn(state, findNode(state, node), say);
    writeState(state);
    return result;
  } finally {
    release();
  }
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
      say(`${n.name}: started agent pid ${n.agent.pid}`);
    }
    n.killed = false;
  });
}

export function partitionNode(node: string, opts: FaultOptions = {}): Promise<void> {
  return withNode(node, opts, async (_state, n, say) => {
    if (!(await linkExists(n.vethHost))) throw new Error(`${n.name}: veth ${n.vethHost} missing; run dokkaa lab up to repair`);
    if (isOurs(n.agent)) signal(n.agent!.pid, 'SIGSTOP');
    await setLinkUp(n.vethHost, false);
    n.partitioned = true;
    say(`${n.name}: partitioned (link ${n.vethHost} down, agent ${isOurs(n.agent) ? `pid ${n.agent!.pid} SIGSTOPped` : 'not running'})`);
  });
}

export function healNode(node: string, opts: FaultOptions = {}): Promise<void> {
  return withNode(node, opts, async (state, n, say) => {
    if (!(await linkExists(n.vethHost))) throw new Error(`${n.name}: veth ${n.vethHost} missing; run dokkaa lab up to repair`);
    await setLinkUp(n.vethHost, true);
    n.partitioned = false;
    if (processState(n.agent) === 'stopped') {
      signal(n.agent!.pid, 'SIGCONT');
      say(`${n.name}: healed (link up, agent pid ${n.agent!.pid} continued)`);
    } else if (!isOurs(n.agent) && !n.killed) {
      n.agent = await startAgent(state, n);
      say(`${n.name}: healed (link up, agent was gone: started pid ${n.agent.pid})`);
    } else {
      say(`${n.name}: healed (link up)`);
    }
  });
}
