import type { StatusRecord } from '../../api/records.js';
import type { Clock } from '../../src/clock.js';
import { ProgressPacer } from '../../src/controller/progress-pacer.js';

/** The least time between two writes of one manifest's status while only its progress changes. */
export const STATUS_PROGRESS_INTERVAL_MS = 1_000;

/**
 * When a status may be written. A status worth telling at once is written at once: the
 * first, a change of phase, and the counts a user (or `dokkaa rollout status`) waits on
 * reaching their goal. Progress on the way there (one more replica running, a record
 * rewritten) is written at most once a second per manifest: the last write carries the
 * latest state, and a reconcile held back is queued again for when it may write.
 *
 * Why: a status lists every replica (11 KB at 100 replicas), and each replica record
 * written while a manifest converges queued one more reconcile that rewrote it whole: about
 * a hundred writes per manifest, the largest share of etcd's writes by volume at 1,000 hosts.
 */
export class StatusPacer {
  private readonly pacer: ProgressPacer;

  constructor(clock: Clock) {
    this.pacer = new ProgressPacer(clock, STATUS_PROGRESS_INTERVAL_MS);
  }

  /** How long to wait before writing `next` over `current` (0: now). */
  delayMs(key: string, current: Pick<StatusRecord, 'phase'> | undefined, next: Pick<StatusRecord, 'phase' | 'desired' | 'running' | 'updated'>): number {
    const urgent = !current || current.phase !== next.phase || (next.running === next.desired && next.updated === next.desired);
    return this.pacer.delayMs(key, urgent);
  }

  wrote(key: string): void {
    this.pacer.wrote(key);
  }

  forget(key: string): void {
    this.pacer.forget(key);
  }
}
