import { mkdirSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { etcdReachable } from '../src/etcd/local-etcd.js';
import { etcdMemberList, type EtcdClusterState, type EtcdMember, type LabTls } from './lab-etcd-urls.js';
import { etcdServerTlsArgs, labEtcdOptions } from './lab-pki.js';
import { tail } from './lab-engine.js';
import { isOurs, pidGone, spawnDetached, stopProcess, waitFor } from './processes.js';

export { etcdClientUrls, etcdMember, etcdMemberList, type EtcdClusterState, type EtcdMember } from './lab-etcd-urls.js';

/**
 * The lab's etcd as a cluster of N members (`dokkaa lab up --etcd-members N`), all in the
 * root namespace on the bridge address, member i on client port 23790 + 2(i-1) and peer
 * port 23791 + 2(i-1), each with its own data dir and log in the state dir. Member 1 keeps
 * the single etcd's ports, data dir and log. Peer traffic is plain HTTP: it never leaves
 * the lab's own bridge. Every client the lab starts gets every member's client URL.
 */

/** An even count adds no fault tolerance; above 7, elections slow down for nothing. */
export const ETCD_MEMBER_COUNTS = [1, 3, 5, 7] as const;

export function checkEtcdMemberCount(n: number): number {
  if (!(ETCD_MEMBER_COUNTS as readonly number[]).includes(n)) throw new Error(`--etcd-members: expected one of ${ETCD_MEMBER_COUNTS.join(', ')}, got ${n}`);
  return n;
}

/**
 * A member's command line. The same on first start and on restarts: the --initial-* flags
 * only matter while the data dir is empty, so a killed member restarted with it rejoins.
 */
export function etcdMemberArgv(lab: LabTls, count: number, m: EtcdMember): string[] {
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
    ...etcdServerTlsArgs(lab),
  ];
}

/**
 * Starts every member of the cluster that does not run, all at once (a new member waits
 * for a quorum of its peers before it serves), calls `recordSpawned`, and waits until each
 * started one answers.
 * Returns the indexes started.
 */
export async function ensureEtcdMembers(state: LabTls & EtcdClusterState, recordSpawned: () => void, timeoutMs = 30_000): Promise<number[]> {
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
    const ready = await waitFor(async () => pidGone(pid) || (await etcdReachable(labEtcdOptions(state, {}, 'admin', [m.clientUrl]), 500)), timeoutMs, 200);
    if (!ready || pidGone(pid)) throw new Error(`etcd member ${m.index} ${pidGone(pid) ? 'exited' : 'not ready'}; last lines of ${m.log}:\n${tail(m.log, 15)}`);
  }));
  return members.map((m) => m.index);
}

/**
 * Stops every member (down), one after the other; returns the indexes that were running. A
 * leader that stops hands leadership to a member still running: stopped all at once, it
 * waited out its transfer timeout (~7 s) for members that were going too.
 */
export async function stopEtcdMembers(state: EtcdClusterState, graceMs = 10_000): Promise<number[]> {
  const stopped: number[] = [];
  for (const [i, rec] of (state.etcdMembers ?? []).entries()) {
    if ((await stopProcess(rec, graceMs)) !== 'gone') stopped.push(i + 1);
  }
  return stopped;
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
export async function etcdMemberStatuses(state: LabTls & EtcdClusterState, timeoutMs = 1_500): Promise<EtcdMemberStatus[]> {
  return Promise.all(etcdMemberList(state, state.etcdMemberCount ?? 1).map(async (m) => {
    const client = new Etcd3(labEtcdOptions(state, { dialTimeout: timeoutMs }, 'admin', [m.clientUrl]));
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
export async function etcdLeaderIndex(state: LabTls & EtcdClusterState): Promise<number | undefined> {
  return (await etcdMemberStatuses(state)).find((s) => s.leader)?.index;
}
