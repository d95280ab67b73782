import { existsSync, readdirSync, rmSync } from 'node:fs';
import { DEFAULT_LAB, LAB_ROOT, labLayout, nodeIndex, requireRoot } from './lab-layout.js';
import { unmountUnder } from './lab-engine.js';
import { newNodeState, teardownNode } from './lab-node.js';
import { lockLab, readState, type LabNodeState, type LabState } from './lab-state.js';
import { deleteLink, listLinks, listNetns, removeForwardRule } from './netns.js';
import { stopProcess } from './processes.js';
import { stopEtcdMembers } from './lab-etcd-cluster.js';

export interface LabDownOptions {
  say?: (line: string) => void;
  stateRoot?: string;
}

export interface LabDownResult {
  /** Problems met on the way; the rest was still removed. Empty: the lab is entirely gone. */
  problems: string[];
  elapsedMs: number;
}

/**
 * Removes everything the lab made, by pid and by name, and deletes its state dir. Succeeds
 * when parts (or all) are already gone. Without a state file (e.g. deleted by hand) it
 * still removes what is found by the lab's deterministic names: the bridge, `dk-<LAB>-n*`
 * namespaces, `dk-<LAB>-*` veths, the iptables rule, and dockerds named by the pid files
 * in the state dir; agents, controller and etcd are then only found through the state file.
 */
export async function labDown(name: string = DEFAULT_LAB, opts: LabDownOptions = {}): Promise<LabDownResult> {
  const started = Date.now();
  const say = opts.say ?? ((l: string) => console.error(`[lab] ${l}`));
  requireRoot();
  const layout = labLayout(name, opts.stateRoot ?? LAB_ROOT);
  const existed = existsSync(layout.stateDir); // taking the lock creates the dir
  const release = lockLab(layout);
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  try {
    let state: LabState | undefined;
    try {
      state = readState(layout);
    } catch (err) {
      problems.push(`state file unreadable, cleaning up by name: ${(err as Error).message}`);
    }
    if (!state) say(`no state file at ${layout.stateFile}; cleaning up by name`);

    // The controllers first: they would otherwise reschedule while the hosts go away.
    await Promise.all((state?.controllers ?? []).map((c, i) => step(`stop controller ${i + 1}`, async () => {
      if ((await stopProcess(c, 5_000)) !== 'gone') say(`stopped controller ${i + 1} pid ${c!.pid}`);
    })));

    // Nodes: those recorded, plus any found by name (a run that died before recording them).
    const nodes: LabNodeState[] = [...(state?.nodes ?? [])];
    const known = new Set(nodes.map((n) => n.index));
    const netnsPrefix = `dk-${layout.name}-n`;
    const found = [
      ...(await listNetns(netnsPrefix)).map((ns) => nodeIndex(ns.slice(netnsPrefix.length - 1))),
      ...(await listLinks(`dk-${layout.name}-`)).map((l) => Number(l.slice(`dk-${layout.name}-`.length))),
      ...(existsSync(layout.stateDir) ? readdirSync(layout.stateDir).map(nodeIndex) : []),
    ];
    for (const i of found) {
      if (i !== undefined && Number.isInteger(i) && i > 0 && !known.has(i)) {
        known.add(i);
        nodes.push(newNodeState(layout, i));
      }
    }
    // Agents before engines: an agent whose engine vanishes would start recreating containers.
    await Promise.all(nodes.map((n) => step(`${n.name}: stop agent`, async () => {
      if ((await stopProcess(n.agent, 5_000)) !== 'gone') say(`${n.name}: stopped agent pid ${n.agent!.pid}`);
      n.agent = undefined;
    })));
    const nodeProblems = await Promise.all(nodes.map((n) => teardownNode(n, say)));
    problems.push(...nodeProblems.flat());

    // etcd before the bridge it listens on: a member that leads hands leadership over as it
    // stops, through the other members' peer addresses on the bridge.
    await step('stop etcd', async () => {
      if ((await stopProcess(state?.etcd, 10_000)) !== 'gone') say(`stopped etcd pid ${state!.etcd!.pid}`);
    });
    await step('stop etcd members', async () => {
      for (const i of await stopEtcdMembers(state ?? {})) say(`stopped etcd member ${i} pid ${state!.etcdMembers![i - 1]!.pid}`);
    });
    await step('delete bridge', async () => {
      if (await deleteLink(layout.bridge)) say(`deleted bridge ${layout.bridge}`);
    });
    await step('remove iptables rule', async () => {
      if (await removeForwardRule(layout.bridge)) say(`removed iptables FORWARD rule for ${layout.bridge}`);
    });
    // net.ipv4.ip_forward stays on: the machine's own dockerd needs it too.

    await step('delete state dir', async () => {
      const left = await unmountUnder(layout.stateDir);
      if (left.length) throw new Error(`not deleted, still mounted: ${left.join(', ')}`);
      rmSync(layout.stateDir, { recursive: true, force: true });
      if (existed) say(`deleted ${layout.stateDir}`);
    });
    return { problems, elapsedMs: Date.now() - started };
  } finally {
    release(); // the lock file lived in the deleted dir; removing it again is harmless
  }
}
