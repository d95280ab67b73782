import type { StatusRecord } from '../../api/records.js';
import type { Clock } from '../../src/clock.js';

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
  private readonly lastWrite = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  /** How long to wait before writing `next` over `current` (0: now). */
  delayMs(key: string, current: Pick<StatusRecord, 'phase'> | undefined, next: Pick<StatusRecord, 'phase' | 'desired' | 'running' | 'updated'>): number {
    if (!current || current.phase !== next.phase) return 0;
    if (next.running === next.desired && next.updated === next.desired) return 0;
    const last = this.lastWrite.get(key);
    return last === undefined ? 0 : Math.max(0, last + STATUS_PROGRESS_INTERVAL_MS - this.clock.now());
  }

  wrote(key: string): void {
    this.lastWrite.set(key, this.clock.now());
  }

  forget(key: string): void {
    this.lastWrite.delete(key);
  }
}
