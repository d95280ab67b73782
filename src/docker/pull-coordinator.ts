import { backoffDelay, sleep, type Clock, type TimerHandle } from '../clock.js';
import { errorField, type Logger } from '../logging.js';
import type { ContainerEngine, PullProgress, RegistryAuth } from './container-engine.js';
import { classifyPullError, CredentialsPending, PullError } from './pull-errors.js';

/** The credentials to pull `ref` with, if its registry has any stored. May reject: CredentialsPending (passed on as is) or another error (the pull fails). */
export type AuthSource = (ref: string) => Promise<RegistryAuth | undefined>;

/** A finished pull: bytes fetched (layers already present count as none) and how long it took. */
export interface PulledImage {
  ref: string;
  bytes: number;
  durationMs: number;
}

export interface PullCoordinatorOptions {
  /** No progress for this long: the attempt is cancelled (and retried). */
  stallMs: number;
  /** Progress reaches a waiter at most once per this: one waiter each time, in turn. */
  progressIntervalMs: number;
  /** Attempts of one pull before a stall is reported. */
  attempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export const DEFAULT_PULL_OPTIONS: PullCoordinatorOptions = { stallMs: 60_000, progressIntervalMs: 1_000, attempts: 3, retryBaseMs: 2_000, retryMaxMs: 30_000 };

interface Pull {
  /** In the order they joined; the next to be told is at the front. */
  waiters: Set<(p: PullProgress) => void>;
  latest?: PullProgress;
  lastEmit: number;
  done: Promise<PulledImage>;
}

/**
 * One pull per image per host, however many replicas (or pre-pull requests) wait for it: a
 * call for a ref being pulled joins that pull, sees its progress and its outcome. An attempt
 * that makes no progress for `stallMs` is aborted and tried again after a backoff, up to
 * `attempts` times; any other failure ends the pull at once (the callers' own retries, with
 * their backoff, try again later). Failures reject with a PullError; a pull whose credentials
 * have not reached this host yet rejects with CredentialsPending before asking the engine.
 */
export class PullCoordinator {
  private readonly pulls = new Map<string, Pull>();

  constructor(
    private readonly engine: Pick<ContainerEngine, 'pull'>,
    private readonly clock: Clock,
    private readonly auth: AuthSource,
    private readonly log: Logger,
    private readonly options: PullCoordinatorOptions = DEFAULT_PULL_OPTIONS,
  ) {}

  /** Refs being pulled now. */
  get active(): string[] {
    return [...this.pulls.keys()];
  }

  /**
   * Rejects with CredentialsPending while the credentials of `ref`'s registry have not reached
   * this host, so a caller can say so before announcing a pull; other problems of the
   * credentials surface from pull().
   */
  async ready(ref: string): Promise<void> {
    await this.auth(ref).catch((err: unknown) => {
      if (err instanceof CredentialsPending) throw err;
    });
  }

  /**
   * Pulls `ref`, or joins its pull in progress; `onProgress` gets the summed progress when it
   * joins and then in turn with the other waiters, one of them per interval: each waiter
   * writes its replica's record, and a pull that ten replicas wait for must not cost ten
   * etcd writes (and the reconciles they set off) a second on a host busy extracting layers.
   */
  pull(ref: string, onProgress?: (p: PullProgress) => void): Promise<PulledImage> {
    let pull = this.pulls.get(ref);
    if (!pull) {
      const fresh: Pull = { waiters: new Set(), lastEmit: -Infinity, done: undefined! };
      fresh.done = this.run(ref, fresh).finally(() => this.pulls.delete(ref));
      this.pulls.set(ref, fresh);
      pull = fresh;
    }
    if (onProgress) {
      const waiter = onProgress;
      pull.waiters.add(waiter);
      if (pull.latest) waiter(pull.latest);
      const leave = () => void pull!.waiters.delete(waiter);
      return pull.done.finally(leave);
    }
    return pull.done;
  }

  private async run(ref: string, pull: Pull): Promise<PulledImage> {
    const started = this.clock.now();
    const auth = await this.auth(ref).catch((err: unknown) => {
      if (err instanceof CredentialsPending) throw err;
      throw new PullError(ref, 'other', `credentials: ${errorField(err).message}`);
    });
    for (let attempt = 0; ; attempt++) {
      const stalled = await this.attempt(ref, pull, auth);
      if (!stalled) return { ref, bytes: pull.latest?.total ?? 0, durationMs: this.clock.now() - started };
      if (attempt + 1 >= this.options.attempts) {
        throw new PullError(ref, 'stalled', `no progress for ${this.options.stallMs / 1000}s, ${this.options.attempts} attempts`);
      }
      const delayMs = backoffDelay(attempt, this.options.retryBaseMs, this.options.retryMaxMs);
      this.log.warn('pull stalled; retrying', { image: ref, attempt: attempt + 1, delayMs });
      await sleep(this.clock, delayMs);
    }
  }

  /** One attempt: false when the engine has the image, true when it stalled; rejects on other failures. */
  private async attempt(ref: string, pull: Pull, auth: RegistryAuth | undefined): Promise<boolean> {
    const abort = new AbortController();
    let stalled = false;
    let timer: TimerHandle | undefined;
    const arm = () => {
      if (timer !== undefined) this.clock.clearTimeout(timer);
      timer = this.clock.setTimeout(() => {
        stalled = true;
        abort.abort(new Error('stalled'));
      }, this.options.stallMs);
    };
    arm();
    try {
      await this.engine.pull(ref, {
        ...(auth ? { auth } : {}),
        signal: abort.signal,
        onProgress: (p) => {
          arm();
          this.progress(pull, p);
        },
      });
      return false;
    } catch (err) {
      if (stalled) return true;
      throw classifyPullError(ref, err);
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    }
  }

  private progress(pull: Pull, p: PullProgress): void {
    pull.latest = p;
    const now = this.clock.now();
    if (now - pull.lastEmit < this.options.progressIntervalMs) return;
    pull.lastEmit = now;
    const [next] = pull.waiters;
    if (!next) return;
    // To the back of the line.
    pull.waiters.delete(next);
    pull.waiters.add(next);
    next(p);
  }
}
