import * as t from 'io-ts';
import { closedType } from './closed-type.js';

/**
 * Volumes in manifests (docs/volumes.md): `"volumes": {"data": "/var/lib/data"}` or
 * `{"data": {"path": "/var/lib/data", "readOnly": true}}` gives each replica a Docker named
 * volume of its own; `{"hostPath": "/srv/shared/x", "path": "/data"}` bind-mounts a host
 * directory instead, where the agent allows it (`--allow-host-path`).
 */

const isAbsolutePath = (u: unknown): u is string =>
  typeof u === 'string' && u.startsWith('/') && u.length > 1 && !u.includes('\0') && !u.split('/').includes('..');

/** An absolute path without `..` segments, other than `/` itself. */
export const AbsolutePath = new t.Type<string, string, unknown>(
  'an absolute path',
  isAbsolutePath,
  (u, c) => (isAbsolutePath(u) ? t.success(u) : t.failure(u, c, 'an absolute path (starting with "/", not "/" alone, no "..")')),
  t.identity,
);

/** A volume as users write it: its mount path, or the object form. */
export const VolumeDecl = t.union(
  [AbsolutePath, closedType('VolumeObject', { path: AbsolutePath }, { readOnly: t.boolean, hostPath: AbsolutePath })],
  'an absolute path or {path, readOnly?, hostPath?}',
);
export type VolumeDecl = t.TypeOf<typeof VolumeDecl>;

/** A volume with its defaults applied, as placements carry it: `hostPath` only for a bind mount, `readOnly` only when true. */
export const VolumeSpec = t.intersection([t.type({ path: t.string }), t.partial({ readOnly: t.literal(true), hostPath: t.string })], 'VolumeSpec');
export type VolumeSpec = t.TypeOf<typeof VolumeSpec>;

/** What `volumeLoss` says when the node holding a replica's volumes is gone: wait for it (default), or start elsewhere with empty volumes. */
export const VolumeLoss = t.keyof({ wait: null, reschedule: null }, '"wait" or "reschedule"');

export function normalizeVolume(decl: VolumeDecl): VolumeSpec {
  if (typeof decl === 'string') return { path: decl };
  return { path: decl.path, ...(decl.readOnly ? { readOnly: true as const } : {}), ...(decl.hostPath ? { hostPath: decl.hostPath } : {}) };
}

/** The names of a spec's Docker named volumes (not host paths), sorted: what makes a replica hold data on its node. */
export function namedVolumes(spec: { volumes?: Record<string, VolumeSpec> }): string[] {
  return Object.entries(spec.volumes ?? {})
    .filter(([, v]) => v.hostPath === undefined)
    .map(([n]) => n)
    .sort();
}

/** Whether the scheduler keeps a replica of this spec on the node that holds its volumes. */
export function holdsVolumes(spec: { volumes?: Record<string, VolumeSpec>; volumeLoss?: 'reschedule'; mode?: 'global' }): boolean {
  return spec.mode !== 'global' && spec.volumeLoss !== 'reschedule' && namedVolumes(spec).length > 0;
}

/** Problems `decodeManifest` reports about volumes beyond their shape: shared mount paths, start-first updates, named volumes in global mode. */
export function volumeErrors(volumes: Record<string, VolumeSpec>, order: string, global: boolean): string[] {
  const errors: string[] = [];
  const seen = new Map<string, string>();
  for (const [name, v] of Object.entries(volumes)) {
    const path = v.path.replace(/\/+$/, '');
    const other = seen.get(path);
    if (other !== undefined) errors.push(`volumes.${name}.path: expected a path no other volume mounts (${other} does), got ${JSON.stringify(v.path)}`);
    else seen.set(path, name);
  }
  const named = namedVolumes({ volumes });
  if (named.length && order === 'start-first') {
    errors.push(`update.order: expected "stop-first" with volumes (two containers of one replica must not share its data), got "start-first"`);
  }
  if (named.length && global) {
    errors.push(`volumes.${named[0]}: expected hostPath volumes only with mode "global" (a global replica has no volumes of its own), got a named volume`);
  }
  return errors;
}

/** Whether the agent's allowed prefixes (`--allow-host-path`) cover `hostPath`: the prefix itself or a path under it. */
export function hostPathAllowed(hostPath: string, prefixes: readonly string[]): boolean {
  const path = hostPath.replace(/\/+$/, '');
  return prefixes.some((p) => {
    const prefix = p.replace(/\/+$/, '');
    return prefix !== '' && (path === prefix || path.startsWith(`${prefix}/`));
  });
}

/** The status message of a replica waiting for the node that holds its volumes. */
export function waitingForVolumes(node: string): string {
  return `waiting for node ${node}, which holds its volumes`;
}
