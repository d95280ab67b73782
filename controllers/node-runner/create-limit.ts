import { inject, injectable } from 'inversify';
import type { Clock } from '../../src/clock.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { AdaptiveLimit, type AdaptiveLimitOptions } from '../../src/queue/adaptive-limit.js';

/**
 * The node runner's: 8 replicas reconciled at once to begin with, up to 64 while container
 * create + start keeps within 3x the fastest of the last 64, never under 4 (the fixed number
 * it replaced: a busy shared host must not make it slower than before). docs/design.md
 * ("Node runner parallelism") says why.
 */
export const NODE_RUNNER_LIMIT: AdaptiveLimitOptions = { initial: 8, min: 4, max: 64, tolerance: 3, backoff: 0.7, window: 64 };

/** How many replicas the node runner reconciles at once, adapted to how fast this host's engine creates and starts containers. */
@injectable()
export class CreateLimit extends AdaptiveLimit {
  constructor(@inject(TYPES.Clock) clock: Clock) {
    super(clock, NODE_RUNNER_LIMIT);
  }
}
