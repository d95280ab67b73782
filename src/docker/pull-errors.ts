/** Why a pull failed, in the terms users act on. */
export type PullFailure = 'auth' | 'notFound' | 'unreachable' | 'stalled' | 'other';

/** A failed pull: what kind, and the message status and events show. */
export class PullError extends Error {
  constructor(
    readonly ref: string,
    readonly kind: PullFailure,
    readonly reason: string,
  ) {
    super(pullMessage(ref, kind, reason));
  }
}

/**
 * A pull that cannot start yet: `registries/<host>` holds credentials but this host's sealed
 * copy of them (or of their latest login) has not arrived. Not a failure: the caller shows
 * the message as pending and tries again.
 */
export class CredentialsPending extends Error {
  constructor(readonly host: string) {
    super(`waiting for credentials of registry ${host} to reach this host`);
  }
}

function pullMessage(ref: string, kind: PullFailure, reason: string): string {
  switch (kind) {
    case 'auth':
      return `pull of ${ref} refused: authentication failed (${reason})`;
    case 'notFound':
      return `pull of ${ref} failed: image or tag not found (${reason})`;
    case 'unreachable':
      return `pull of ${ref} failed: registry unreachable: ${reason}`;
    case 'stalled':
      return `pull of ${ref} stalled: ${reason}`;
    case 'other':
      return `pull of ${ref} failed: ${reason}`;
  }
}

/*
 * What Docker Engines (20.10 to 28) say, through the HTTP status of POST /images/create or
 * an error line in its stream:
 * - bad or missing credentials: 401/500 "unauthorized: authentication required",
 *   "no basic auth credentials", "... incorrect username or password";
 * - a missing tag: 404 "manifest for R not found: manifest unknown"; a missing repository:
 *   "repository R not found" or, from Docker Hub, "pull access denied for R, repository
 *   does not exist or may require 'docker login'" (Hub will not tell which: reported as not found);
 * - no registry there: 500 "dial tcp ...: connect: connection refused", "no such host",
 *   "i/o timeout", "TLS handshake timeout", "server gave HTTP response to HTTPS client",
 *   "x509: ..." (an untrusted certificate), "context deadline exceeded".
 */
const NOT_FOUND = /manifest unknown|not found|does not exist|name unknown/i;
const AUTH = /unauthorized|authentication required|no basic auth credentials|incorrect username or password|denied/i;
const UNREACHABLE = /dial tcp|connection refused|no such host|i\/o timeout|handshake timeout|http response to https client|x509:|certificate|context deadline exceeded|network is unreachable|no route to host|connection reset|EOF$/i;

/** Tells a pull's engine error apart; `err` may carry dockerode's statusCode and json.message. */
export function classifyPullError(ref: string, err: unknown): PullError {
  if (err instanceof PullError) return err;
  const e = err as { statusCode?: number; json?: { message?: string }; message?: string };
  const reason = (e.json?.message ?? e.message ?? String(err)).replace(/^\(HTTP code \d+\) [a-z ]+ - /, '').trim();
  // Hub's "pull access denied ... does not exist" names both: not found comes first.
  if (e.statusCode === 404 || NOT_FOUND.test(reason)) return new PullError(ref, 'notFound', reason);
  if (e.statusCode === 401 || AUTH.test(reason)) return new PullError(ref, 'auth', reason);
  if (UNREACHABLE.test(reason)) return new PullError(ref, 'unreachable', reason);
  return new PullError(ref, 'other', reason);
}
