import { existsSync, readFileSync, statSync } from 'node:fs';
import { run, tryRun } from './exec.js';

/**
 * The lab's network: a Linux bridge in the root namespace, one network namespace per host
 * joined to it by a veth pair, IP forwarding and one iptables rule. Every function is
 * idempotent (check, then change) so that `up` can repair and `down` can run twice.
 */

export async function linkExists(name: string): Promise<boolean> {
  return (await tryRun('ip', ['link', 'show', 'dev', name])).ok;
}

/** Whether a link is administratively up (`ip link set X up`), not whether it has carrier. */
export async function linkIsUp(name: string): Promise<boolean | undefined> {
  const r = await tryRun('ip', ['-j', 'link', 'show', 'dev', name]);
  if (!r.ok) return undefined;
  const [link] = JSON.parse(r.stdout) as { flags?: string[] }[];
  return link?.flags?.includes('UP') ?? false;
}

export async function setLinkUp(name: string, up: boolean): Promise<void> {
  await run('ip', ['link', 'set', 'dev', name, up ? 'up' : 'down']);
}

export async function deleteLink(name: string): Promise<boolean> {
  if (!(await linkExists(name))) return false;
  await run('ip', ['link', 'del', 'dev', name]);
  return true;
}

/**
 * Fails if an interface other than `bridge` already holds an address in `prefix`.0/24: a
 * second lab hashing to the same subnet, or a real network, must not be shadowed.
 */
export async function checkSubnetFree(bridge: string, prefix: string): Promise<void> {
  const out = await run('ip', ['-j', '-4', 'addr', 'show']);
  for (const link of JSON.parse(out) as { ifname: string; addr_info?: { local: string }[] }[]) {
    if (link.ifname === bridge) continue;
    const clash = link.addr_info?.find((a) => a.local.startsWith(`${prefix}.`));
    if (clash) throw new Error(`subnet ${prefix}.0/24 is already used by ${link.ifname} (${clash.local}); pick another --name`);
  }
}

/** Creates the bridge if missing, gives it its address and brings it up. True if created. */
export async function ensureBridge(bridge: string, addressCidr: string): Promise<boolean> {
  const created = !(await linkExists(bridge));
  if (created) await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'replace', addressCidr, 'dev', bridge]);
  await setLinkUp(bridge, true);
  return created;
}

/** Turns on IPv4 forwarding in the root namespace; returns whether it had to. */
export async function ensureIpForward(): Promise<boolean> {
  if (readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1') return false;
  await run('sysctl', ['-w', 'net.ipv4.ip_forward=1']);
  return true;
}

/**
 * Any dockerd on the machine sets the FORWARD policy to DROP, and bridged frames pass
 * through iptables (br_netfilter): without this rule the hosts cannot reach each other.
 */
export function forwardRule(bridge: string): string[] {
  return ['FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT'];
}

export async function forwardRulePresent(bridge: string): Promise<boolean> {
  return (await tryRun('iptables', ['-C', ...forwardRule(bridge)])).ok;
}

/** Inserts the rule unless it is already there (so repeated `up` adds it once). */
export async function ensureForwardRule(bridge: string): Promise<boolean> {
  if (await forwardRulePresent(bridge)) return false;
  await run('iptables', ['-I', ...forwardRule(bridge)]);
  return true;
}

/** Deletes every copy of the rule (a crashed earlier run may have left a second one). */
export async function removeForwardRule(bridge: string): Promise<number> {
  let removed = 0;
  while (removed < 20 && (await forwardRulePresent(bridge))) {
    await run('iptables', ['-D', ...forwardRule(bridge)]);
    removed++;
  }
  return removed;
}

export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}

export function netnsExists(netns: string): boolean {
  return existsSync(netnsPath(netns));
}

export async function ensureNetns(netns: string): Promise<boolean> {
  if (netnsExists(netns)) return false;
  await run('ip', ['netns', 'add', netns]);
  return true;
}

export async function deleteNetns(netns: string): Promise<boolean> {
  if (!netnsExists(netns)) return false;
  await run('ip', ['netns', 'del', netns]);
  return true;
}

/** Lab netns names of this lab that exist (for cleaning up without a state file). */
export async function listNetns(prefix: string): Promise<string[]> {
  const r = await tryRun('ip', ['-j', 'netns', 'list']);
  if (!r.ok || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name).filter((n) => n.startsWith(prefix));
}

/** Links in the root namespace whose name starts with `prefix`. */
export async function listLinks(prefix: string): Promise<string[]> {
  const r = await tryRun('ip', ['-j', 'link', 'show']);
  if (!r.ok) return [];
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith(prefix));
}

export interface HostLink {
  netns: string;
  vethHost: string;
  vethPeer: string;
  bridge: string;
  addressCidr: string;
  gateway: string;
}

/**
 * Wires one host: the veth pair (created with its peer directly inside the netns, so the
 * peer's name cannot clash in the root namespace), the host end on the bridge, and inside:
 * loopback, the address and a default route via the bridge. `hostEndUp` false keeps a
 * partitioned host cut off while repairing the rest. True if the veth pair was created.
 */
export async function ensureHostLink(l: HostLink, hostEndUp: boolean): Promise<boolean> {
  const hostEnd = await linkExists(l.vethHost);
  const peer = (await tryRun('ip', ['-n', l.netns, 'link', 'show', 'dev', l.vethPeer])).ok;
  const created = !hostEnd || !peer;
  if (created) {
    // Pairs die together, so one end alone means the other sits in a namespace that was
    // deleted and re-created under the same name (kept alive by a process still in it):
    // drop the stray end and make a fresh pair.
    if (hostEnd) await run('ip', ['link', 'del', 'dev', l.vethHost]);
    if (peer) await run('ip', ['-n', l.netns, 'link', 'del', 'dev', l.vethPeer]);
    await run('ip', ['link', 'add', 'name', l.vethHost, 'type', 'veth', 'peer', 'name', l.vethPeer, 'netns', l.netns]);
  }
  await run('ip', ['link', 'set', 'dev', l.vethHost, 'master', l.bridge]);
  await setLinkUp(l.vethHost, hostEndUp);
  await run('ip', ['-n', l.netns, 'link', 'set', 'dev', 'lo', 'up']);
  await run('ip', ['-n', l.netns, 'addr', 'replace', l.addressCidr, 'dev', l.vethPeer]);
  await run('ip', ['-n', l.netns, 'link', 'set', 'dev', l.vethPeer, 'up']);
  await run('ip', ['-n', l.netns, 'route', 'replace', 'default', 'via', l.gateway, 'dev', l.vethPeer]);
  return created;
}

/**
 * Whether process `pid` lives in network namespace `netns`: compares the namespace inodes.
 * A dockerd whose netns was deleted and re-created under the same name is in the old one.
 */
export function processInNetns(pid: number, netns: string): boolean {
  try {
    const a = statSync(`/proc/${pid}/ns/net`);
    const b = statSync(netnsPath(netns));
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}
