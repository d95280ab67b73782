import type { PullProgress } from './container-engine.js';

/** One line of Docker's pull stream (POST /images/create). */
export interface PullMessage {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Sums a pull's progress over its layers from the stream's lines: `Downloading` lines carry a
 * layer's bytes so far and size; `Download complete`, `Pull complete` and `Already exists`
 * settle a layer at its size (an existing layer counts as nothing to fetch).
 */
export class PullProgressSum {
  private readonly layers = new Map<string, PullProgress>();

  /** Takes one line; true if the sum changed. */
  update(msg: PullMessage): boolean {
    if (!msg.id || !msg.status) return false;
    const before = this.layers.get(msg.id);
    let next: PullProgress | undefined;
    if (msg.status === 'Downloading' && msg.progressDetail?.total) {
      next = { current: msg.progressDetail.current ?? 0, total: msg.progressDetail.total };
    } else if (msg.status === 'Download complete' || msg.status === 'Pull complete') {
      next = before && { current: before.total, total: before.total };
    } else if (msg.status === 'Already exists') {
      next = { current: 0, total: 0 };
    }
    if (!next || (before && before.current === next.current && before.total === next.total)) return false;
    this.layers.set(msg.id, next);
    return true;
  }

  get progress(): PullProgress {
    let current = 0;
    let total = 0;
    for (const l of this.layers.values()) {
      current += l.current;
      total += l.total;
    }
    return { current, total };
  }
}

/** The error a stream line reports, if it is an error line. */
export function pullStreamError(msg: PullMessage): string | undefined {
  return msg.errorDetail?.message ?? msg.error;
}

/** `43% (118/274 MB)`; before any size is known, `starting`. */
export function formatPullProgress(p: PullProgress): string {
  if (p.total <= 0) return 'starting';
  const mb = (n: number) => (n / 1e6).toFixed(n < 10e6 ? 1 : 0);
  return `${Math.floor((100 * p.current) / p.total)}% (${mb(p.current)}/${mb(p.total)} MB)`;
}
