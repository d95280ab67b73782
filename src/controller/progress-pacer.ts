import type { Clock } from '../clock.js';

/**
 * When a record that reports progress may be written again: at once when the change is one
 * a reader waits on (`urgent`: a new phase, a goal reached), otherwise at most once per
 * `intervalMs` per key. The caller queues its key again for the delay returned, so the
 * last progress held back is written then.
 */
export class ProgressPacer {
  private readonly lastWrite = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /** How long to wait before writing (0: now). */
  delayMs(key: string, urgent: boolean): number {
    if (urgent) return 0;
    const last = this.lastWrite.get(key);
    return last === undefined ? 0 : Math.max(0, last + this.intervalMs - this.clock.now());
  }

  wrote(key: string): void {
    this.lastWrite.set(key, this.clock.now());
  }

  forget(key: string): void {
    this.lastWrite.delete(key);
  }
}
