import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Names, addresses, ports and paths of a lab, computed from its name and node index only.
 * Deterministic on purpose: `up` can repair and `down` can clean up by name even when the
 * state file is gone, and two runs of `up` agree on what should exist.
 */

/** Root of all lab state dirs. */
export const LAB_ROOT = '/var/lib/dokkaa/lab';
export const DEFAULT_LAB = 'lab';
export const ETCD_CLIENT_PORT = 23790;
export const ETCD_PEER_PORT = 23791;
/** Addresses .11 .. .(10+MAX_NODES) inside the lab's /24. */
export const MAX_NODES = 200;

// The veth host end is `dk-<LAB>-<i>`: Linux caps interface names at 15 bytes, so with up to
// three digits for i the lab name can have at most 8 characters.
const LAB_NAME = /^[a-z][a-z0-9]{0,7}$/;

/** Netns, bridges, iptables and other users' daemons need root; fail before touching anything. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('dokkaa lab must run as root (it creates network namespaces, a bridge and iptables rules)');
}

export function checkLabName(name: string): string {
  if (!LAB_NAME.test(name)) {
    throw new Error(`lab name: expected 1-8 characters a-z0-9 starting with a letter (interface names are capped at 15), got ${JSON.stringify(name)}`);
  }
  return name;
}

/** The repository root: this file is dist/lab/lab-layout.js, two levels below it. */
export function repoRoot(): string {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  if (!existsSync(join(root, 'bin', 'dokkaa.js'))) throw new Error(`cannot find bin/dokkaa.js under ${root} (is this running from dist/lab?)`);
  return root.replace(/\/$/, '');
}

/**
 * The lab's /24: 10.77.0.0/24 for the default lab, 10.77.X.0/24 (X = 1..250 from a hash of
 * the name) for any other, so that two labs can run side by side without choosing subnets.
 */
export function labSubnetPrefix(name: string): string {
  if (name === DEFAULT_LAB) return '10.77.0';
  let h = 0x811c9dc5; // FNV-1a, 32 bit
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `10.77.${1 + (h % 250)}`;
}

export interface LabLayout {
  name: string;
  stateDir: string;
  stateFile: string;
  bridge: string;
  subnetPrefix: string;
  bridgeAddress: string;
  prefixLength: 24;
  /** https (TLS with client certificates) unless the lab runs without TLS (see lab-pki.ts). */
  etcdClientUrl: string;
  etcdPeerUrl: string;
  /** The lab's CA and certificates for TLS to etcd (lab-pki.ts). */
  pkiDir: string;
  etcdName: string;
  etcdDataDir: string;
  etcdLog: string;
  /** The first controller's log; controller i > 1 logs to controller-<i>.log (see controllerLogPath). */
  controllerLog: string;
}

export interface NodeLayout {
  name: string;
  index: number;
  address: string;
  netns: string;
  /** veth end left in the root namespace, attached to the bridge. */
  vethHost: string;
  /** veth end moved into the netns (its name only has to be unique there). */
  vethPeer: string;
  dir: string;
  dataRoot: string;
  execRoot: string;
  dockerSocket: string;
  dockerPidFile: string;
  dockerLog: string;
  agentLog: string;
}

export function labLayout(name: string, root = LAB_ROOT): LabLayout {
  checkLabName(name);
  const stateDir = join(root, name);
  const subnetPrefix = labSubnetPrefix(name);
  const bridgeAddress = `${subnetPrefix}.1`;
  return {
    name,
    stateDir,
    stateFile: join(stateDir, 'lab.json'),
    bridge: `dk-${name}`,
    subnetPrefix,
    bridgeAddress,
    prefixLength: 24,
    etcdClientUrl: `https://${bridgeAddress}:${ETCD_CLIENT_PORT}`,
    etcdPeerUrl: `http://${bridgeAddress}:${ETCD_PEER_PORT}`,
    pkiDir: join(stateDir, 'pki'),
    etcdName: `dk-${name}`,
    etcdDataDir: join(stateDir, 'etcd'),
    etcdLog: join(stateDir, 'etcd.log'),
    controllerLog: join(stateDir, 'controller.log'),
  };
}

/** Log of the lab's i-th controller (1-based): controller.log, controller-2.log, ... */
export function controllerLogPath(lab: LabLayout, i: number): string {
  return i === 1 ? lab.controllerLog : join(lab.stateDir, `controller-${i}.log`);
}

/** At most this many controller processes (they all campaign for one leader key). */
export const MAX_CONTROLLERS = 9;

export function nodeName(index: number): string {
  return `n${index}`;
}

/** `n3` -> 3; undefined for anything else. */
export function nodeIndex(node: string): number | undefined {
  const m = /^n([1-9][0-9]{0,2})$/.exec(node);
  return m ? Number(m[1]) : undefined;
}

export function nodeLayout(lab: LabLayout, index: number): NodeLayout {
  if (!Number.isInteger(index) || index < 1 || index > MAX_NODES) throw new Error(`node index must be 1..${MAX_NODES}, got ${index}`);
  const name = nodeName(index);
  const dir = join(lab.stateDir, name);
  return {
    name,
    index,
    address: `${lab.subnetPrefix}.${10 + index}`,
    netns: `dk-${lab.name}-${name}`,
    vethHost: `dk-${lab.name}-${index}`,
    vethPeer: 'eth0',
    dir,
    dataRoot: join(dir, 'data'),
    execRoot: join(dir, 'exec'),
    dockerSocket: join(dir, 'docker.sock'),
    dockerPidFile: join(dir, 'docker.pid'),
    dockerLog: join(dir, 'docker.log'),
    agentLog: join(dir, 'agent.log'),
  };
}
