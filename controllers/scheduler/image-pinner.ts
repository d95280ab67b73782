import { inject, injectable } from 'inversify';
import { pinnableImage, pinSpec } from '../../api/image-pins.js';
import type { Keys } from '../../api/keys.js';
import { templateHash, type ManifestSpec } from '../../api/manifest.js';
import { decodeRecord, type ImagePin, RolloutRecord } from '../../api/records.js';
import type { Clock } from '../../src/clock.js';
import { classifyPullError } from '../../src/docker/pull-errors.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, type Restart } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import type { DigestResolver } from '../../src/registry/digest-resolver.js';

/** How long a failed resolution is not tried again (the reconcile looks again after it). */
export const PIN_RETRY_MS = 10_000;

export type PinResult =
  | { ok: true; spec: ManifestSpec; pin: ImagePin }
  | { ok: false; baseHash: string; message: string; retryAfterMs: number };

/**
 * Pins a manifest's image: its tag resolved once per spec (template hash) and restart
 * request, through the DigestResolver, and the digest added to the spec placements carry.
 * The pin is remembered in memory and, through the rollout record, across leaders, so
 * reconciles do not ask the registry again and a tag pushed anew changes nothing running.
 * A registry that does not answer leaves the image unpinned (run by tag: the hosts may
 * have it, e.g. loaded by hand); any other failure is returned, and the caller keeps the
 * previous version running.
 */
@injectable()
export class ImagePinner {
  private readonly pins = new Map<string, ImagePin>();
  private readonly failures = new Map<string, { want: ImagePin; until: number; message: string }>();
  private readonly restarts: SharedInformer<Restart>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.DigestResolver) private readonly resolver: DigestResolver,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.restarts = factory.informer(Resources.restarts(keys));
  }

  async pin(app: string, name: string, spec: ManifestSpec, log: Logger): Promise<PinResult> {
    const id = `${app}/${name}`;
    const restartedAt = this.restarts.get(this.keys.restart(app, name))?.value.requestedAt;
    const want: ImagePin = { baseHash: templateHash(spec), image: spec.image, ...(restartedAt ? { restartedAt } : {}) };
    const done = (pin: ImagePin): PinResult => {
      this.pins.set(id, pin);
      this.failures.delete(id);
      return { ok: true, spec: pinSpec(spec, pin), pin };
    };
    const known = this.pins.get(id);
    if (known && samePin(known, want)) return { ok: true, spec: pinSpec(spec, known), pin: known };
    if (!pinnableImage(spec.image)) return done(want);
    // A new leader finds the pin its predecessor made in the rollout record.
    const recorded = decodeRecord(RolloutRecord, (await this.store.get(this.keys.rollout(app, name)))?.value)?.pin;
    if (recorded && samePin(recorded, want)) return done(recorded);

    const now = this.clock.now();
    const failed = this.failures.get(id);
    if (failed && samePin(failed.want, want) && now < failed.until) return { ok: false, baseHash: want.baseHash, message: failed.message, retryAfterMs: failed.until - now };
    try {
      const digest = await this.resolver.resolve(spec.image);
      log.info('image pinned', { image: spec.image, digest });
      void this.events.record(app, name, { type: 'Normal', reason: 'Pinned', message: `image ${spec.image} pinned to ${digest}` });
      return done({ ...want, digest });
    } catch (err) {
      const failure = classifyPullError(spec.image, err);
      if (failure.kind === 'unreachable') {
        const unpinned = `registry unreachable: ${failure.reason}`;
        log.warn('image not pinned; running it by tag', { image: spec.image, reason: failure.reason });
        void this.events.record(app, name, { type: 'Warning', reason: 'NotPinned', message: `image ${spec.image} runs by tag, not pinned: ${unpinned}` });
        return done({ ...want, unpinned });
      }
      const message = `image ${spec.image} not pinned: ${failure.kind === 'auth' ? 'authentication failed' : failure.kind === 'notFound' ? 'image or tag not found' : 'resolution failed'} (${failure.reason})`;
      if (failed?.message !== message) {
        log.warn('image not pinned', { image: spec.image, kind: failure.kind, reason: failure.reason });
        void this.events.record(app, name, { type: 'Warning', reason: 'Failed', message });
      }
      this.failures.set(id, { want, until: now + PIN_RETRY_MS, message });
      return { ok: false, baseHash: want.baseHash, message, retryAfterMs: PIN_RETRY_MS };
    }
  }

  /** Forgets a deleted manifest. */
  forget(app: string, name: string): void {
    this.pins.delete(`${app}/${name}`);
    this.failures.delete(`${app}/${name}`);
  }
}

function samePin(a: ImagePin, b: ImagePin): boolean {
  return a.baseHash === b.baseHash && a.image === b.image && a.restartedAt === b.restartedAt;
}
