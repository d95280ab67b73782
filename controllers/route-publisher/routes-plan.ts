import { decodeManifest } from '../../api/manifest.js';
import type { RoutesRecord } from '../../api/records.js';
import { hasWebService } from '../../api/routes.js';
import type { ManifestEntry, Rollout } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';

/** What `routes/<app>/<name>` should hold: a record, none, or whatever it holds now. */
export type RoutesDecision = { kind: 'put'; record: RoutesRecord } | { kind: 'delete' } | { kind: 'keep' };

/**
 * The routes record of a manifest from the version its rollout targets: the scheduler sets
 * the target only to a version it admitted (valid, allowed by the policy, pinned), so what
 * the routers serve follows what runs. No manifest: none. No target yet: whatever was
 * published stays (a first version not admitted yet publishes nothing). Pure.
 */
export function planRoutes(app: string, name: string, manifest: Cached<ManifestEntry> | undefined, rollout: Rollout | undefined): RoutesDecision {
  if (!manifest) return { kind: 'delete' };
  const target = rollout?.target;
  if (!target) return { kind: 'keep' };
  const admitted = decodeManifest(target.manifest, app, name);
  if (!admitted.ok) return { kind: 'keep' };
  if (!hasWebService(admitted)) return { kind: 'delete' };
  return { kind: 'put', record: { manifest: target.manifest, revision: target.revision, createRevision: manifest.createRevision } };
}
