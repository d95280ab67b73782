import { etcdReachable } from '../src/etcd/local-etcd.js';
import { labEtcdOptions } from './lab-pki.js';
import { table } from '../src/table.js';
import { DEFAULT_LAB, LAB_ROOT, labLayout } from './lab-layout.js';
import { agentInNetns, isLiveRegistration, nodeRecords, readLeader } from './lab-agents.js';
import { controllerLogPath } from './lab-layout.js';
import { currentDockerd, enginePing, runningContainers } from './lab-engine.js';
import { readState } from './lab-state.js';
import { forwardRulePresent, linkExists, linkIsUp, netnsExists } from './netns.js';
import { processState, type ProcessState } from './processes.js';
import { etcdClientUrls, etcdMemberStatuses, type EtcdMemberStatus } from './lab-etcd-cluster.js';

export interface NodeStatus {
  name: string;
  address: string;
  netns: string;
  netnsExists: boolean;
  /** Root-end veth: 'up', 'down' (partitioned) or 'missing'. */
  link: 'up' | 'down' | 'missing';
  engine: boolean;
  dockerdPid?: number;
  agent: ProcessState;
  agentPid?: number;
  /** Whether the agent runs inside the node's netns (where a partition cuts it off). */
  agentInNetns: boolean;
  /** Whether `<prefix>/nodes/<name>` exists in the lab's etcd (the lease is alive). */
  registered: boolean;
  /** Whether that record was written by the current agent (not left by an earlier one). */
  registeredLive: boolean;
  labels: Record<string, string>;
  /** Running containers on the engine; undefined when the engine does not answer. */
  containers?: number;
  killed: boolean;
  partitioned: boolean;
}

export interface LabStatus {
  name: string;
  up: boolean;
  stateDir: string;
  bridge: string;
  bridgeExists: boolean;
  forwardRule: boolean;
  etcd: { url: string; pid?: number; process: ProcessState; healthy: boolean };
  /** With --etcd-members N > 1: each member, as it answers for itself (`etcd` is then member 1). */
  etcdMembers?: (EtcdMemberStatus & { pid?: number; process: ProcessState })[];
  controllers: { pid?: number; process: ProcessState; log: string; leader: boolean }[];
  /** The pid in the leader key (`<prefix>/election/controller`), if any. */
  leaderPid?: number;
  ttlSeconds?: number;
  prefix?: string;
  nodes: NodeStatus[];
}

/** Observes the lab as it is (processes, links, engines, etcd), not as the state file claims. */
export async function labStatus(name: string = DEFAULT_LAB, opts: { stateRoot?: string } = {}): Promise<LabStatus> {
  const layout = labLayout(name, opts.stateRoot ?? LAB_ROOT);
  const state = readState(layout);
  const healthy = state ? await etcdReachable(labEtcdOptions(state), 1_000) : false;
  const members = state && (state.etcdMemberCount ?? 1) > 1
    ? (await etcdMemberStatuses(state, 1_000)).map((m) => {
      const rec = state.etcdMembers?.[m.index - 1];
      return { ...m, ...(rec ? { pid: rec.pid } : {}), process: processState(rec) };
    })
    : undefined;
  const records = healthy && state ? await nodeRecords(state) : undefined;
  const leader = healthy && state ? await readLeader(state) : undefined;
  const nodes = await Promise.all((state?.nodes ?? []).map(async (n): Promise<NodeStatus> => {
    const up = await linkIsUp(n.vethHost);
    const dockerd = currentDockerd(n, n.dockerd);
    const containers = await runningContainers(n.dockerSocket);
    return {
      name: n.name,
      address: n.address,
      netns: n.netns,
      netnsExists: netnsExists(n.netns),
      link: up === undefined ? 'missing' : up ? 'up' : 'down',
      engine: await enginePing(n.dockerSocket),
      ...(dockerd ? { dockerdPid: dockerd.pid } : {}),
      agent: processState(n.agent),
      ...(n.agent ? { agentPid: n.agent.pid } : {}),
      agentInNetns: agentInNetns(n),
      registered: !!records?.has(n.name),
      registeredLive: isLiveRegistration(n, records?.get(n.name)),
      labels: n.labels ?? {},
      ...(containers === undefined ? {} : { containers }),
      killed: n.killed,
      partitioned: n.partitioned,
    };
  }));
  return {
    name: layout.name,
    up: !!state,
    stateDir: layout.stateDir,
    bridge: layout.bridge,
    bridgeExists: await linkExists(layout.bridge),
    forwardRule: await forwardRulePresent(layout.bridge),
    etcd: members
      ? { url: state ? etcdClientUrls(state)[0]! : layout.etcdClientUrl, ...(members[0]!.pid ? { pid: members[0]!.pid } : {}), process: members[0]!.process, healthy }
      : { url: state ? etcdClientUrls(state)[0]! : layout.etcdClientUrl, ...(state?.etcd ? { pid: state.etcd.pid } : {}), process: processState(state?.etcd), healthy },
    ...(members ? { etcdMembers: members } : {}),
    controllers: (state?.controllers ?? []).map((c, i) => ({
      ...(c ? { pid: c.pid } : {}), process: processState(c ?? undefined), log: controllerLogPath(layout, i + 1), leader: !!c && c.pid === leader?.pid,
    })),
    ...(leader ? { leaderPid: leader.pid } : {}),
    ...(state ? { ttlSeconds: state.ttlSeconds, prefix: state.prefix } : {}),
    nodes,
  };
}

export function formatStatus(s: LabStatus): string {
  if (!s.up) return `lab ${s.name} is not up (no state in ${s.stateDir})${s.bridgeExists ? `; bridge ${s.bridge} exists: run dokkaa lab down --name ${s.name}` : ''}`;
  const pidCell = (state: ProcessState, pid?: number) => (pid ? `${pid} ${state}` : state);
  const lines = [
    `lab ${s.name}: bridge ${s.bridge} ${s.bridgeExists ? 'up' : 'MISSING'}, iptables rule ${s.forwardRule ? 'present' : 'MISSING'}, lease TTL ${s.ttlSeconds} s, prefix ${s.prefix}`,
    ...(s.etcdMembers
      ? s.etcdMembers.map((m) => `etcd member ${m.index} ${m.url}: ${pidCell(m.process, m.pid)}, ${m.healthy ? `healthy${m.leader ? ' LEADER' : ''}, term ${m.raftTerm}` : 'NOT ANSWERING'}`)
      : [`etcd ${s.etcd.url}: ${pidCell(s.etcd.process, s.etcd.pid)}, ${s.etcd.healthy ? 'healthy' : 'NOT ANSWERING'}`]),
    ...s.controllers.map((c, i) => `controller ${i + 1}: ${pidCell(c.process, c.pid)}${c.leader ? ' LEADER' : ''} (log ${c.log})`),
    ...(s.leaderPid !== undefined && !s.controllers.some((c) => c.leader) ? [`leader key names pid ${s.leaderPid}, not a controller of this lab (it expires with its lease)`] : []),
    '',
    table(
      ['NODE', 'ADDRESS', 'NETNS', 'LINK', 'ENGINE', 'AGENT', 'REGISTERED', 'RUNNING', 'FAULT', 'LABELS'],
      s.nodes.map((n) => [
        n.name,
        n.address,
        n.netnsExists ? n.netns : `${n.netns} (missing)`,
        n.link,
        n.engine ? `up${n.dockerdPid ? ` ${n.dockerdPid}` : ''}` : 'down',
        `${pidCell(n.agent, n.agentPid)}${n.agent !== 'dead' && !n.agentInNetns ? ' (outside netns)' : ''}`,
        n.registeredLive ? 'yes' : n.registered ? 'stale' : 'no',
        n.containers === undefined ? '-' : String(n.containers),
        [n.killed ? 'killed' : '', n.partitioned ? 'partitioned' : ''].filter(Boolean).join(',') || '-',
        Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
      ]),
    ),
  ];
  return lines.join('\n');
}
