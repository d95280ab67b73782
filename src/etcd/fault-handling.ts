import { ExponentialBackoff, handleWhen, noop, retry, type IPolicy } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError, type IOptions } from 'etcd3';

/**
 * How Dokkaa's etcd client handles failed calls: etcd3's `faultHandling` option, and a retry
 * of idempotent reads that Etcd3KvStore wraps around `get` and `list`.
 *
 * etcd3's defaults (connection-pool.js) put a circuit breaker on each member that opens for
 * 5 s after 3 consecutive "recoverable" errors, deadline exceeded included, and retry every
 * call that failed so 3 times without a pause. Under load (bench/results/scale.md) etcd answers late, a few calls
 * pass the store's 10 s deadline, the breaker opens, and for 5 s every call of the process
 * fails without being sent, lease keepalive streams included: a slow etcd became an outage,
 * leases expired and agents fenced themselves. A breaker cannot tell a slow member from a
 * dead one (both miss deadlines), and with one member there is nowhere else to send the
 * call. So:
 *
 * - **host: never opens** (`noop`). A call to a member that refuses connections fails fast
 *   anyway (grpc-js fails it with UNAVAILABLE while it has no connection) and is moved to
 *   another member by the global policy; a slow member just answers late. The price: a
 *   member that is cut off without refusing (packets dropped) costs each call sent to it
 *   its 10 s deadline, where the breaker would have skipped it after three.
 * - **global: retries only calls that were never sent** (UNAVAILABLE "No connection
 *   established": grpc-js had no connection to pick): safe for every call, writes and
 *   transactions included, since etcd never saw it. Each retry goes to the next member, so
 *   a killed member of a cluster costs a call one fast failure, as before. A call that
 *   reached etcd and failed is not retried here: a put or a transaction may have been
 *   applied (a retried transaction on a mod revision would then fail its own condition),
 *   and a deadline exceeded means etcd is slow, where retrying adds load. The caller's
 *   work queue retries it with its per-key backoff.
 * - **reads** (`readRetry`, in Etcd3KvStore): a range is idempotent, so one that etcd failed
 *   for a transient reason (no leader for a moment, too many requests, a dropped stream) is
 *   retried with backoff too. Not a deadline exceeded: the caller already waited 10 s.
 * - **watchBackoff**: etcd3's default (exponential from 128 ms to 30 s with jitter); the
 *   shared informers re-list on their own when a watch ends for good.
 */

/** Backoff of both retries: a few quick tries, then the caller's own retry takes over. */
export interface RetryTiming {
  retries: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const RETRY_TIMING: RetryTiming = { retries: 2, initialDelayMs: 100, maxDelayMs: 1_000 };

/** grpc-js had no connection to the member: the call never left this process. */
export function neverSent(err: Error): boolean {
  return err instanceof GRPCUnavailableError && err.message.includes('No connection established');
}

/** A failure of a read that reached etcd and may well succeed if sent again. */
export function transientReadFailure(err: Error): boolean {
  return isRecoverableError(err) && !(err instanceof GRPCDeadlineExceededError) && !neverSent(err);
}

function backoffOf(t: RetryTiming): ExponentialBackoff<unknown> {
  return new ExponentialBackoff({ initialDelay: t.initialDelayMs, maxDelay: t.maxDelayMs });
}

/** etcd3's `faultHandling` for every Dokkaa client (etcdClient). */
export function etcdFaultHandling(t: RetryTiming = RETRY_TIMING): NonNullable<IOptions['faultHandling']> {
  return {
    host: () => noop,
    global: retry(handleWhen(neverSent), { maxAttempts: t.retries, backoff: backoffOf(t) }),
  };
}

/** The retry around idempotent reads (Etcd3KvStore's get and list). */
export function readRetry(t: RetryTiming = RETRY_TIMING): IPolicy {
  return retry(handleWhen(transientReadFailure), { maxAttempts: t.retries, backoff: backoffOf(t) });
}
