import { join } from 'node:path';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, type LabLayout } from './lab-layout.js';
import type { ProcessRecord } from './processes.js';

/**
 * Where the lab's etcd members listen, for both its TLS mode and its member count: what
 * every lab client (agents, controllers, the CLI, tests, benchmarks) connects to, and what
 * each member is started with. Kept apart from lab-pki.ts (certificates) and
 * lab-etcd-cluster.ts (processes), which both need it.
 */

/** What these functions read of a lab: its layout and whether it runs TLS (default true). */
export type LabTls = LabLayout & { tls?: boolean };

export function labTls(lab: LabTls): boolean {
  return lab.tls !== false;
}

function scheme(lab: LabTls): string {
  return labTls(lab) ? 'https' : 'http';
}

/** Member 1's client URL (the only one of a single-member lab) for the lab's TLS mode. */
export function labEtcdUrl(lab: LabTls): string {
  return `${scheme(lab)}://${lab.bridgeAddress}:${ETCD_CLIENT_PORT}`;
}

/** What the lab's state records about its etcd members (absent: one member, `state.etcd`). */
export interface EtcdClusterState {
  /** How many members the cluster was made with; it cannot change while the lab lives. */
  etcdMemberCount?: number;
  /** Member i's process at [i-1]; undefined while it is down. Only when etcdMemberCount > 1. */
  etcdMembers?: (ProcessRecord | undefined)[];
}

export interface EtcdMember {
  /** 1-based. */
  index: number;
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  log: string;
}

/**
 * Member i: all on the bridge address, client port 23790 + 2(i-1), peer port 23791 + 2(i-1)
 * (peers in plain HTTP: that traffic never leaves the lab's own bridge). Member 1 keeps the
 * single etcd's name, ports, data dir and log.
 */
export function etcdMember(lab: LabTls, index: number): EtcdMember {
  if (index === 1) return { index, name: lab.etcdName, clientUrl: labEtcdUrl(lab), peerUrl: lab.etcdPeerUrl, dataDir: lab.etcdDataDir, log: lab.etcdLog };
  const port = (base: number) => base + 2 * (index - 1);
  return {
    index,
    name: `${lab.etcdName}-${index}`,
    clientUrl: `${scheme(lab)}://${lab.bridgeAddress}:${port(ETCD_CLIENT_PORT)}`,
    peerUrl: `http://${lab.bridgeAddress}:${port(ETCD_PEER_PORT)}`,
    dataDir: join(lab.stateDir, `etcd-${index}`),
    log: join(lab.stateDir, `etcd-${index}.log`),
  };
}

export function etcdMemberList(lab: LabTls, count: number): EtcdMember[] {
  return Array.from({ length: count }, (_, i) => etcdMember(lab, i + 1));
}

/** The client URLs of every member: what controllers, agents, the CLI and tests connect to. */
export function etcdClientUrls(state: LabTls & EtcdClusterState): string[] {
  return etcdMemberList(state, state.etcdMemberCount ?? 1).map((m) => m.clientUrl);
}
