import { decodeManifest, templateHash, type ManifestSpec } from '../../api/manifest.js';
import type { EndpointRecord, NodeRecord, PlacementRecord, ReplicaRecord } from '../../api/records.js';

/** Test data builders: a record with sensible values, overridable field by field. */

export function node(name: string, labels: Record<string, string> = {}): NodeRecord {
  return {
    name,
    address: `addr-of-${name}`,
    labels,
    capacity: { cpus: 2, memoryBytes: 2 ** 30 },
    version: 'test',
    startedAt: '2026-01-01T00:00:00.000Z',
  };
}

/** Decodes a manifest that must be valid. */
export function spec(manifest: object, app = 'app'): ManifestSpec {
  const r = decodeManifest(JSON.stringify(manifest), app);
  if (!r.ok) throw new Error(`test manifest invalid: ${r.errors.join('; ')}`);
  return r.spec;
}

export function placement(s: ManifestSpec, replica: number, nodeName: string, extra: Partial<PlacementRecord> = {}): PlacementRecord {
  return { app: 'app', name: 'web', replica, node: nodeName, spec: s, templateHash: templateHash(s), revision: 1, ...extra };
}

export function replica(p: PlacementRecord, extra: Partial<ReplicaRecord> = {}): ReplicaRecord {
  return {
    app: p.app,
    name: p.name,
    replica: p.replica,
    node: p.node,
    address: `addr-of-${p.node}`,
    state: 'running',
    containerId: `c-${p.replica}`,
    containerName: `${p.app}---${p.name}---${p.replica}`,
    templateHash: p.templateHash,
    revision: p.revision,
    restarts: 0,
    crashes: 0,
    ports: {},
    ready: (extra.state ?? 'running') === 'running',
    ...extra,
  };
}

export function endpoint(host: string, port: number, extra: Partial<EndpointRecord> = {}): EndpointRecord {
  return { host, port, protocol: 'tcp', node: 'h1', app: 'app', name: 'web', replica: 0, containerId: 'c', ...extra };
}
