import type { VolumeSetRecord } from '../../api/records.js';

/** A volume set as read, at its key's mod revision. */
export interface VolumeSetAt {
  key: string;
  modRevision: number;
  record: VolumeSetRecord;
}

/**
 * Replica index -> the node holding its volumes: of a replica's sets not being purged, the
 * newest (a replica rescheduled with empty volumes got a newer set where it went), the
 * first node name on a tie. Pure.
 */
export function volumeHolders(sets: readonly VolumeSetRecord[]): Map<number, string> {
  const newest = new Map<number, VolumeSetRecord>();
  for (const s of sets) {
    if (s.purge) continue;
    const held = newest.get(s.replica);
    if (!held || s.createdAt > held.createdAt || (s.createdAt === held.createdAt && s.node < held.node)) newest.set(s.replica, s);
  }
  return new Map([...newest].map(([replica, s]) => [replica, s.node]));
}

/** A volume set to write: `modRevision` 0 creates it; otherwise it replaces the one read at that revision. */
export interface VolumeSetWrite {
  node: string;
  replica: number;
  modRevision: number;
  record: VolumeSetRecord;
}

export interface VolumeSetsInput {
  app: string;
  name: string;
  /** The manifest's named volumes, sorted. */
  volumes: readonly string[];
  /** Where its replicas are placed, after this reconcile's writes. */
  placed: readonly { replica: number; node: string }[];
  sets: readonly VolumeSetAt[];
  /** ISO time, for new sets. */
  now: string;
}

/**
 * The volume sets the scheduler writes so that it knows where each replica's volumes are:
 * one for every placement of a manifest with named volumes that has none on its node yet
 * (its node runner creates the volumes when it creates the container); a set being purged
 * where a replica is placed again is replaced (the purge is called off: the volumes are in
 * use again); a set that lacks volumes the manifest now declares gets them. Pure.
 */
export function planVolumeSets(input: VolumeSetsInput): VolumeSetWrite[] {
  if (input.volumes.length === 0) return [];
  const writes: VolumeSetWrite[] = [];
  const seen = new Set<string>();
  for (const p of input.placed) {
    const id = `${p.replica}@${p.node}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const at = input.sets.find((s) => s.record.replica === p.replica && s.record.node === p.node);
    const fresh: VolumeSetRecord = { app: input.app, name: input.name, replica: p.replica, node: p.node, volumes: [...input.volumes], createdAt: input.now };
    if (!at) writes.push({ node: p.node, replica: p.replica, modRevision: 0, record: fresh });
    else if (at.record.purge) writes.push({ node: p.node, replica: p.replica, modRevision: at.modRevision, record: fresh });
    else if (input.volumes.some((v) => !at.record.volumes.includes(v))) {
      const { message: _message, ...kept } = at.record;
      writes.push({ node: p.node, replica: p.replica, modRevision: at.modRevision, record: { ...kept, volumes: [...new Set([...at.record.volumes, ...input.volumes])].sort() } });
    }
  }
  return writes;
}
