import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { HostCapacity } from './host-capacity.js';
import type { EtcdClusterState } from './lab-etcd-urls.js';
import { DEFAULT_LAB, LAB_ROOT, labLayout, requireRoot, type LabLayout, type NodeLayout } from './lab-layout.js';
import { isOurs, recordOf, type ProcessRecord } from './processes.js';

/**
 * The lab's state file, `<state dir>/lab.json`: everything `up` made, so that `down`
 * removes exactly that. It is rewritten after each step of `up` (atomically, by rename), so
 * a run that fails halfway still leaves an accurate list to clean up.
 */

export interface LabNodeState extends NodeLayout {
  dockerd?: ProcessRecord;
  agent?: ProcessRecord;
  /**
   * When the current agent was spawned (ms since the epoch). Its registration counts as
   * live only if the node record's startedAt is not older: a record left by a previous
   * agent lives on until its lease expires.
   */
  agentStartedAt?: number;
  /** The agent's node labels (`--label k=v`), for manifest constraints. */
  labels?: Record<string, string>;
  /** The size its agent reports (`--capacity-*`, no reserve); absent: the engine's figures less the agent's default reserve. */
  capacity?: HostCapacity;
  /** Set by kill-node, cleared by restore-node; `up` leaves a killed node down. */
  killed: boolean;
  /** Set by partition, cleared by heal; `up` keeps the link down (the agent runs, cut off). */
  partitioned: boolean;
  /** When the current partition began (ms since the epoch). */
  partitionedAt?: number;
}

export interface LabState extends LabLayout, EtcdClusterState {
  version: 1;
  repoRoot: string;
  prefix: string;
  ttlSeconds: number;
  logLevel: string;
  /** etcd with TLS and client certificates (absent: true; see LabUpOptions.tls). */
  tls?: boolean;
  /** Engines and etcd only, no agents or controllers (see LabUpOptions.bare). */
  bare?: boolean;
  /** Whether this lab inserted the iptables FORWARD rule (and so removes it). */
  forwardRule: boolean;
  /** The single etcd member (etcdMemberCount absent or 1; see EtcdClusterState otherwise). */
  etcd?: ProcessRecord;
  /** The controller processes (`--controllers K`); they elect one leader among them. */
  controllers: (ProcessRecord | undefined)[];
  /** State files before --controllers had a single `controller`; readState migrates it. */
  controller?: ProcessRecord;
  nodes: LabNodeState[];
  createdAt: string;
  updatedAt: string;
}

export function readState(layout: LabLayout): LabState | undefined {
  if (!existsSync(layout.stateFile)) return undefined;
  const state = JSON.parse(readFileSync(layout.stateFile, 'utf8')) as LabState;
  if (state.version !== 1) throw new Error(`${layout.stateFile}: unknown version ${String(state.version)}`);
  if (!Array.isArray(state.controllers)) state.controllers = state.controller ? [state.controller] : [];
  delete state.controller;
  return state;
}

export function writeState(state: LabState): void {
  mkdirSync(state.stateDir, { recursive: true });
  state.updatedAt = new Date().toISOString();
  const tmp = `${state.stateFile}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, state.stateFile);
}

export function findNode(state: LabState, node: string): LabNodeState {
  const n = state.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`lab ${state.name} has no node ${JSON.stringify(node)} (nodes: ${state.nodes.map((x) => x.name).join(', ') || 'none'})`);
  return n;
}

/**
 * One lab command at a time per lab: `<state dir>/lock` holds the owner's pid and is taken
 * with O_EXCL. A lock whose owner is gone is taken over. Returns the release function.
 */
export function lockLab(layout: LabLayout): () => void {
  mkdirSync(layout.stateDir, { recursive: true });
  const file = join(layout.stateDir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, JSON.stringify(recordOf(process.pid)));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner: ProcessRecord | undefined;
      try {
        owner = JSON.parse(readFileSync(file, 'utf8')) as ProcessRecord;
      } catch {
        // Unreadable: either being written this instant by its owner, or garbage.
        if (Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 5_000) throw new Error(`lab ${layout.name} is busy: ${file} was just taken`);
        owner = undefined;
      }
      if (isOurs(owner)) throw new Error(`lab ${layout.name} is busy: another lab command (pid ${owner!.pid}) holds ${file}`);
      rmSync(file, { force: true }); // stale: its owner is gone
    }
  }
  throw new Error(`could not take ${file}`);
}

/** Runs `fn` on the lab's state, under the lab's lock; the lab must be up. */
export async function withLab<T>(
  opts: { name?: string; stateRoot?: string; say?: (line: string) => void },
  fn: (state: LabState, say: (l: string) => void) => Promise<T>,
): Promise<T> {
  const say = opts.say ?? ((l: string) => console.error(`[lab] ${l}`));
  requireRoot();
  const layout = labLayout(opts.name ?? DEFAULT_LAB, opts.stateRoot ?? LAB_ROOT);
  const release = lockLab(layout);
  try {
    const state = readState(layout);
    if (!state) throw new Error(`lab ${layout.name} is not up (no ${layout.stateFile})`);
    return await fn(state, say);
  } finally {
    release();
  }
}
