import { serviceId } from '../../api/keys.js';
import type { DecodeResult } from '../../api/manifest.js';
import type { LinkRecord, PortRecord } from '../../api/records.js';
import type { PortRange } from '../../src/config.js';

type Protocol = PortRecord['protocol'];

/** A `ports/<app>/<service>` key as read: `record` undefined if it does not parse. */
export interface PortEntry {
  id: string;
  record: PortRecord | undefined;
  modRevision: number;
}

/** A `portalloc/<port>` key as read: `id` is its value, `app/service`. */
export interface AllocEntry {
  port: number;
  id: string;
  modRevision: number;
}

/**
 * One change, each applied as one etcd transaction conditioned on the mod revisions it was
 * planned from (0: the key must not exist), so a concurrent allocator makes it fail instead
 * of handing out a port twice.
 */
export type PortAction =
  /** Create `ports/<id>` and `portalloc/<port>` together. */
  | { kind: 'allocate'; id: string; port: number; protocol: Protocol }
  /** Re-create a missing `portalloc/<port>` for a `ports/<id>` that is still wanted. */
  | { kind: 'repair'; id: string; port: number; portModRevision: number }
  /** The providing service changed protocol. */
  | { kind: 'protocol'; id: string; port: number; protocol: Protocol; portModRevision: number }
  /** Delete `ports/<id>` and, if it names `id`, `portalloc/<port>`. */
  | { kind: 'release'; id: string; portModRevision: number; alloc?: { port: number; modRevision: number } }
  /** Delete a `portalloc/<port>` that no `ports/` record holds. */
  | { kind: 'drop-alloc'; port: number; modRevision: number };

export interface PortPlan {
  /** In the order to apply: deletions first, so that a freed key can be created again. */
  actions: PortAction[];
  /** Services that want a port when the range has none left. */
  exhausted: string[];
}

/**
 * The services (`app/service`) that need a link port, with their protocol: every service a
 * valid manifest links to, and every service a `links/` record still resolves (an invalid
 * manifest keeps its last resolution, and its containers keep using the port). The protocol
 * is the one the first manifest (in key order) providing the service declares, else tcp.
 */
export function wantedPorts(
  manifests: { app: string; result: DecodeResult }[],
  linkRecords: (LinkRecord | undefined)[],
): Map<string, Protocol | undefined> {
  const wanted = new Map<string, Protocol | undefined>();
  const provided = new Map<string, Protocol>();
  for (const m of manifests) {
    const decoded = m.result;
    if (!decoded.ok) continue;
    for (const l of decoded.spec.links) wanted.set(serviceId(l.app, l.service), undefined);
    for (const [svc, decl] of Object.entries(decoded.spec.services)) {
      if (!provided.has(serviceId(m.app, svc))) provided.set(serviceId(m.app, svc), decl.protocol);
    }
  }
  for (const r of linkRecords) for (const l of Object.values(r?.links ?? {})) wanted.set(serviceId(l.app, l.service), undefined);
  for (const id of wanted.keys()) wanted.set(id, provided.get(id));
  return wanted;
}

/**
 * What of a manifest bears on the wanted ports (its links, and the protocols of its
 * services), as a string: a change of a manifest that leaves it alone (an image, a scale)
 * need not re-plan every port. An invalid manifest bears on none, as in wantedPorts.
 */
export function portBearing(m: { result: DecodeResult } | undefined): string {
  if (!m?.result.ok) return '';
  const { links, services } = m.result.spec;
  if (links.length === 0 && Object.keys(services).length === 0) return '';
  return JSON.stringify([links.map((l) => serviceId(l.app, l.service)), Object.entries(services).map(([s, d]) => [s, d.protocol])]);
}

/**
 * What to change so that every wanted service holds exactly one port of the range, no
 * unwanted one holds any, and `ports/` and `portalloc/` mirror each other. Pure. A port
 * already held is kept (ports survive restarts); new ones are the lowest free in the range.
 * Where two `ports/` records claim one port, the one `portalloc/<port>` names keeps it.
 */
export function planPorts(
  wanted: Map<string, Protocol | undefined>,
  ports: PortEntry[],
  allocs: AllocEntry[],
  range: PortRange,
): PortPlan {
  const allocByPort = new Map(allocs.map((a) => [a.port, a]));
  const removals: PortAction[] = [];
  const fixes: PortAction[] = [];
  const allocations: PortAction[] = [];
  const held = new Set<string>(); // ids that keep a port
  const claimed = new Set<number>(); // ports a kept record holds
  for (const p of ports) {
    const alloc = p.record ? allocByPort.get(p.record.port) : undefined;
    const isWanted = wanted.has(p.id);
    if (!p.record || (alloc && alloc.id !== p.id) || (!isWanted && !alloc)) {
      // Unreadable, lost its port to another record, or unwanted with no reverse key.
      removals.push({ kind: 'release', id: p.id, portModRevision: p.modRevision });
      continue;
    }
    if (!isWanted) {
      removals.push({ kind: 'release', id: p.id, portModRevision: p.modRevision, alloc: { port: alloc!.port, modRevision: alloc!.modRevision } });
      continue;
    }
    held.add(p.id);
    claimed.add(p.record.port);
    if (!alloc) fixes.push({ kind: 'repair', id: p.id, port: p.record.port, portModRevision: p.modRevision });
    const protocol = wanted.get(p.id) ?? p.record.protocol;
    if (protocol !== p.record.protocol) fixes.push({ kind: 'protocol', id: p.id, port: p.record.port, protocol, portModRevision: p.modRevision });
  }
  const recordPorts = new Map(ports.filter((p) => p.record).map((p) => [p.id, p.record!.port]));
  for (const a of allocs) {
    if (recordPorts.get(a.id) !== a.port) removals.push({ kind: 'drop-alloc', port: a.port, modRevision: a.modRevision });
  }
  // Every port any key mentions stays out of reach until those keys are gone.
  const used = new Set<number>([...claimed, ...allocs.map((a) => a.port), ...recordPorts.values()]);
  const exhausted: string[] = [];
  let next = range.min;
  for (const [id, protocol] of [...wanted].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (held.has(id)) continue;
    while (next <= range.max && used.has(next)) next++;
    if (next > range.max) {
      exhausted.push(id);
      continue;
    }
    used.add(next);
    allocations.push({ kind: 'allocate', id, port: next, protocol: protocol ?? 'tcp' });
  }
  return { actions: [...removals, ...fixes, ...allocations], exhausted };
}
