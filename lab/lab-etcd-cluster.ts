import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { etcdReachable } from '../src/etcd/local-etcd.js';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, type LabLayout } from './lab-layout.js';
import { tail } from './lab-engine.js';
import { isOurs, pidGone, spawnDetached, stopProcess, waitFor, type ProcessRecord } from './processes.js';

/**
 * The lab's etcd as a cluster of N members (`dokkaa lab up --etcd-members N`), all in the
 * root namespace on the bridge address, member i on client port 23790 + 2(i-1) and peer
 * port 23791 + 2(i-1), each with its own data dir and log in the state dir. Member 1 keeps
 * the single etcd's ports, data dir and log. Peer traffic is plain HTTP: it never leaves
 * the lab's own bridge. Every client the lab starts gets every member's client URL.
 */

/** An even count adds no fault tolerance; above 7, elections slow down for nothing. */
export const ETCD_MEMBER_COUNTS = [1, 3, 5, 7] as const;

export interface EtcdMember {
  /** 1-based. */
  index: number;
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  log: string;
}

/** What the lab's state records about its etcd members (absent: one member, `state.etcd`). */
export interface EtcdClusterState {
  /** How many members the cluster was made with; it cannot change while the lab lives. */
  etcdMemberCount?: number;
  /** Member i's process at [i-1]; undefined while it is down. Only when etcdMemberCount > 1. */
  etcdMembers?: (ProcessRecord | undefined)[];
}

export function checkEtcdMemberCount(n: number): number {
  if (!(ETCD_MEMBER_COUNTS as readonly number[]).includes(n)) throw new Error(`--etcd-members: expected one of ${ETCD_MEMBER_COUNTS.join(', ')}, got ${n}`);
  return n;
}

export function etcdMember(lab: LabLayout, index: number): EtcdMember {
  if (index === 1) return { index, name: lab.etcdName, clientUrl: lab.etcdClientUrl, peerUrl: lab.etcdPeerUrl, dataDir: lab.etcdDataDir, log: lab.etcdLog };
  const url = (port: number) => `http://${lab.bridgeAddress}:${port + 2 * (index - 1)}`;
  return {
    index,
    name: `${lab.etcdName}-${index}`,
    clientUrl: url(ETCD_CLIENT_PORT),
    peerUrl: url(ETCD_PEER_PORT),
    dataDir: join(lab.stateDir, `etcd-${index}`),
    log: join(lab.stateDir, `etcd-${index}.log`),
  };
}

export function etcdMemberList(lab: LabLayout, count: number): EtcdMember[] {
  return Array.from({ length: count }, (_, i) => etcdMember(lab, i + 1));
}

/** The client URLs of every member: what controllers, agents, the CLI and tests connect to. */
export function etcdClientUrls(state: LabLayout & EtcdClusterState): string[] {
  return etcdMemberList(state, state.etcdMemberCount ?? 1).map((m) => m.clientUrl);
}

/**
 * A member's command line. The same on first start and on restarts: the --initial-* flags
 * only matter while the data dir is empty, so a killed member restarted with it rejoins.
 */
export function etcdMemberArgv(lab: LabLayout, count: number, m: EtcdMember): string[] {
  return [
    'etcd',
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', m.clientUrl,
    '--advertise-client-urls', m.clientUrl,
    '--listen-peer-urls', m.peerUrl,
    '--initial-advertise-peer-urls', m.peerUrl,
    '--initial-cluster', etcdMemberList(lab, count).map((x) => `${x.name}=${x.peerUrl}`).join(','),
    '--initial-cluster-token', lab.etcdName,
    '--initial-cluster-state', 'new',
  ];
}

/**
 * Starts every member of the cluster that does not run, all at once (a new member waits
 * for a quorum of its peers before it serves), calls `recordSpawned`, and waits until each
 * started one answers.
 * Returns the indexes started.
 */
export async function ensureEtcdMembers(state: LabLayout & EtcdClusterState, recordSpawned: () => void, timeoutMs = 30_000): Promise<number[]> {
  const count = state.etcdMemberCount ?? 1;
  const records = (state.etcdMembers ??= []);
  const members = etcdMemberList(state, count).filter((m) => !isOurs(records[m.index - 1]));
  for (const m of members) {
    mkdirSync(m.dataDir, { recursive: true, mode: 0o700 }); // etcd warns about looser modes
    const argv = etcdMemberArgv(state, count, m);
    records[m.index - 1] = { pid: await spawnDetached(argv[0]!, argv.slice(1), { log: m.log }), argv };
  }
  recordSpawned(); // before waiting: a failed `up` must leave their pids for `down`
  await Promise.all(members.map(async (m) => {
    const pid = records[m.index - 1]!.pid;
    const ready = await waitFor(async () => pidGone(pid) || (await etcdReachable([m.clientUrl], 500)), timeoutMs, 200);
    if (!ready || pidGone(pid)) throw new Error(`etcd member ${m.index} ${pidGone(pid) ? 'exited' : 'not ready'}; last lines of ${m.log}:\n${tail(m.log, 15)}`);
  }));
  return members.map((m) => m.index);
}

/** Stops every member (down); returns the indexes that were running. */
export async function stopEtcdMembers(state: EtcdClusterState, graceMs = 10_000): Promise<number[]> {
  const how = await Promise.all((state.etcdMembers ?? []).map((rec) => stopProcess(rec, graceMs)));
  return how.flatMap((h, i) => (h === 'gone' ? [] : [i + 1]));
}

export interface EtcdMemberStatus {
  index: number;
  url: string;
  /** Whether it answered a status call. */
  healthy: boolean;
  leader: boolean;
  raftTerm?: number;
}

/**
 * Each member's own view, from the maintenance Status call to that member alone: it
 * answers with its member id and the leader it follows. Members that do not answer within
 * `timeoutMs` are unhealthy.
 */
export async function etcdMemberStatuses(state: LabLayout & EtcdClusterState, timeoutMs = 1_500): Promise<EtcdMemberStatus[]> {
  return Promise.all(etcdMemberList(state, state.etcdMemberCount ?? 1).map(async (m) => {
    const client = new Etcd3({ hosts: [m.clientUrl], dialTimeout: timeoutMs });
    try {
      const s = await client.maintenance.status({ deadline: Date.now() + timeoutMs });
      return { index: m.index, url: m.clientUrl, healthy: true, leader: s.leader !== '0' && s.leader === s.header.member_id, raftTerm: Number(s.raftTerm) };
    } catch {
      return { index: m.index, url: m.clientUrl, healthy: false, leader: false };
    } finally {
      client.close();
    }
  }));
}

/** The index of the member that leads now, if one answers as leader. */
export async function etcdLeaderIndex(state: LabLayout & EtcdClusterState): Promise<number | undefined> {
  return (await etcdMemberStatuses(state)).find((s) => s.leader)?.index;
}
