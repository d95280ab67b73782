import { rmSync } from 'node:fs';
import type { LabLayout } from './lab-layout.js';
import { nodeLayout } from './lab-layout.js';
import { enginePing, removeAllContainers, stopDockerd, unmountUnder } from './lab-engine.js';
import type { LabNodeState } from './lab-state.js';
import { deleteLink, deleteNetns } from './netns.js';
import { stopProcess } from './processes.js';

/** A node as `up` first records it: nothing running yet, no fault injected. */
export function newNodeState(lab: LabLayout, index: number): LabNodeState {
  return { ...nodeLayout(lab, index), killed: false, partitioned: false };
}

/**
 * Removes one host entirely: its agent, its containers, its dockerd (SIGTERM, 20 s, SIGKILL),
 * whatever dockerd left mounted, the veth pair, the netns and the node's directory. Each
 * step tolerates the thing being gone already; a step that fails is reported, not fatal, so
 * that one broken part cannot keep the rest alive. Returns the problems it met.
 */
export async function teardownNode(node: LabNodeState, say: (line: string) => void): Promise<string[]> {
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${node.name}: ${what}: ${(err as Error).message}`);
    }
  };
  await step('stop agent', async () => {
    const how = await stopProcess(node.agent, 5_000);
    if (how !== 'gone') say(`${node.name}: agent pid ${node.agent!.pid} ${how}`);
    node.agent = undefined;
  });
  await step('remove containers', async () => {
    if (!(await enginePing(node.dockerSocket))) return;
    const n = await removeAllContainers(node.dockerSocket);
    if (n) say(`${node.name}: removed ${n} container(s)`);
  });
  await step('stop dockerd', async () => {
    const { how, leftovers } = await stopDockerd(node, node.dockerd);
    if (how !== 'gone') say(`${node.name}: dockerd ${how}`);
    if (leftovers) say(`${node.name}: killed ${leftovers} process(es) a dead dockerd left behind (shims, containers)`);
    node.dockerd = undefined;
  });
  await step('unmount', async () => {
    const left = await unmountUnder(node.dir);
    if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
  });
  await step('delete veth', async () => {
    if (await deleteLink(node.vethHost)) say(`${node.name}: deleted veth ${node.vethHost}`);
  });
  await step('delete netns', async () => {
    if (await deleteNetns(node.netns)) say(`${node.name}: deleted netns ${node.netns}`);
  });
  // Only once nothing is mounted below it: rm -r through a live overlay mount would delete
  // files of the layers underneath.
  if (!problems.some((p) => p.includes('unmount'))) await step('delete state', async () => rmSync(node.dir, { recursive: true, force: true }));
  return problems;
}
