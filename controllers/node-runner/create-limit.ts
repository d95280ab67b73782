import { inject, injectable } from 'inversify';
import type { Clock } from '../../src/clock.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { AdaptiveLimit, type AdaptiveLimitOptions } from '../../src/queue/adaptive-limit.js';

/**
 * The node runner's: 16 replicas reconciled at once to begin with, up to 64 while container
 * create + start keeps within 3x the fastest of the last 64, never under 8. An engine that
 * serializes starts makes every batch look saturated (latency grows with what is in flight
 * while throughput stays flat), so the limit sits at its floor: 4 paced a host's 7 to 10
 * new replicas in waves where the floor sends them at once, 8 measured as fast as 4 on a
 * busy engine. docs/design.md ("Node runner parallelism") has the measurements.
 */
export const NODE_RUNNER_LIMIT: AdaptiveLimitOptions = { initial: 16, min: 8, max: 64, tolerance: 3, backoff: 0.7, window: 64 };

/** How many replicas the node runner reconciles at once, adapted to how fast this host's engine creates and starts containers. */
@injectable()
export class CreateLimit extends AdaptiveLimit {
  constructor(@inject(TYPES.Clock) clock: Clock) {
    super(clock, NODE_RUNNER_LIMIT);
  }
}
