import { templateHash, type ManifestSpec } from './manifest.js';
import type { ImagePin, RolloutRecord } from './records.js';

/**
 * Which images the scheduler pins to a digest: references that name their registry (the
 * first path segment has a `.` or a `:`, or is `localhost`: `reg.example.com/web:2`,
 * `127.0.0.1:5000/busybox:1`) and carry a tag, not a digest. Others run by tag as before:
 * Docker Hub style names (`dokkaa/busybox`, `nginx`), which are also what local imports
 * (`docker load`, `docker build -t`) are called, and references already pinned (`@sha256:`).
 */
export function pinnableImage(image: string): boolean {
  if (image.includes('@')) return false;
  const slash = image.indexOf('/');
  if (slash < 0) return false;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** The reference without its tag: `reg:5000/team/web:2` -> `reg:5000/team/web`. */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(0, at);
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(0, colon) : image;
}

/** The tag of a reference (`latest` when it names none). */
export function imageTag(image: string): string {
  const repo = imageRepository(image);
  return image.length > repo.length && image[repo.length] === ':' ? image.slice(repo.length + 1) : 'latest';
}

/** What an engine creates the container from: `repo@sha256:...` when pinned, else the reference as written. */
export function runImageOf(spec: Pick<ManifestSpec, 'image' | 'imageDigest'>): string {
  return spec.imageDigest ? `${imageRepository(spec.image)}@${spec.imageDigest}` : spec.image;
}

/**
 * The last pinned spec made of each spec, with what it was made from: the same pin gives the
 * same object again, so its template hash is computed once (templateHash memoizes by object),
 * not on every reconcile of the scheduler and the status controller. Specs are never mutated.
 */
const pinnedSpecs = new WeakMap<ManifestSpec, { digest: string | undefined; restartedAt: string | undefined; spec: ManifestSpec }>();

/** The spec as placements carry it: the pin's digest and restart request added (so the template hash covers them). */
export function pinSpec(spec: ManifestSpec, pin: ImagePin | undefined): ManifestSpec {
  if (!pin) return spec;
  const last = pinnedSpecs.get(spec);
  if (last && last.digest === pin.digest && last.restartedAt === pin.restartedAt) return last.spec;
  const pinned = { ...spec, ...(pin.digest ? { imageDigest: pin.digest } : {}), ...(pin.restartedAt ? { restartedAt: pin.restartedAt } : {}) };
  pinnedSpecs.set(spec, { digest: pin.digest, restartedAt: pin.restartedAt, spec: pinned });
  return pinned;
}

/**
 * The spec a manifest runs once pinned, as the status controller sees it: the rollout
 * record's pin applies when it was made for this spec (same template hash and image).
 */
export function pinnedSpecOf(spec: ManifestSpec, rollout: Pick<RolloutRecord, 'pin'> | undefined): ManifestSpec {
  const pin = rollout?.pin;
  return pin && pin.image === spec.image && pin.baseHash === templateHash(spec) ? pinSpec(spec, pin) : spec;
}

/** The pin's failure for this spec, if the scheduler could not pin it (the previous version keeps running). */
export function pinErrorOf(spec: ManifestSpec, rollout: Pick<RolloutRecord, 'pinError'> | undefined): string | undefined {
  return rollout?.pinError && rollout.pinError.baseHash === templateHash(spec) ? rollout.pinError.message : undefined;
}
