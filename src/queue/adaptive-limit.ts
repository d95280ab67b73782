import type { Clock } from '../clock.js';

export interface AdaptiveLimitOptions {
  /** The limit before any sample. */
  initial: number;
  min: number;
  max: number;
  /** A sample slower than this multiple of the baseline (the fastest of the recent ones) means the resource is saturated. */
  tolerance: number;
  /** The limit is multiplied by this on saturation. */
  backoff: number;
  /** How many recent samples the baseline is the fastest of (so that it follows a host that got slower for good). */
  window: number;
}

/**
 * How many operations to have in flight against a resource whose capacity is unknown (a
 * Docker Engine on a large or a small host), by AIMD on their latency, as TCP does on a
 * path's: while samples stay within `tolerance` of the baseline the limit grows (by one per
 * sample until the first saturation, like slow start, then by one per `limit` samples);
 * a slower sample multiplies it by `backoff`, at most once per sample's length (operations
 * that began before the last decrease do not count again). On a saturated engine latency
 * grows with what is in flight while throughput does not: a latency far above the
 * baseline is the sign that more in flight only queues.
 */
export class AdaptiveLimit {
  private value: number;
  private readonly recent: number[] = [];
  private lastDecrease = -Infinity;
  private saturated = false;

  constructor(private readonly clock: Pick<Clock, 'now'>, private readonly opts: AdaptiveLimitOptions) {
    this.value = opts.initial;
  }

  /** The number of operations to allow in flight now. */
  get current(): number {
    return Math.floor(this.value);
  }

  /** One operation's latency, reported when it ended. */
  sample(latencyMs: number): void {
    this.recent.push(latencyMs);
    if (this.recent.length > this.opts.window) this.recent.shift();
    const baseline = Math.min(...this.recent);
    const now = this.clock.now();
    if (latencyMs > this.opts.tolerance * Math.max(baseline, 1)) {
      if (now - latencyMs < this.lastDecrease) return;
      this.value = Math.max(this.opts.min, this.value * this.opts.backoff);
      this.lastDecrease = now;
      this.saturated = true;
      return;
    }
    this.value = Math.min(this.opts.max, this.value + (this.saturated ? 1 / this.value : 1));
  }
}
