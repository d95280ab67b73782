import type { RestartPolicy } from '../../api/manifest.js';

/** Crash-loop backoff: 1 s doubling to 5 min; a run of 10 min resets it (as Kubernetes does). */
export const RESTART_BASE_MS = 1_000;
export const RESTART_MAX_MS = 300_000;
export const RESTART_RESET_AFTER_MS = 600_000;

export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === 'always' || (policy === 'on-failure' && exitCode !== 0);
}

/**
 * How long after it exited a container may be started again, given how many times in a
 * row it has crashed without a long clean run.
 */
export function restartDelayMs(consecutiveCrashes: number): number {
  if (consecutiveCrashes <= 0) return 0;
  return Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.min(consecutiveCrashes - 1, 20));
}

/** The crash count after a run: reset if it ran long enough, else one more. */
export function nextCrashCount(previous: number, ranForMs: number): number {
  return ranForMs >= RESTART_RESET_AFTER_MS ? 1 : previous + 1;
}
