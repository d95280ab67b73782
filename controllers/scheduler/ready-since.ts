/**
 * When each replica was first seen ready, for the scheduler's monitor periods (a rolling
 * update's switched replica, a move's replacement): it must stay ready MONITOR_MS before the
 * next step. Kept in memory only: a new leader starts every clock again, which costs one
 * more monitor period, never a step taken too early.
 *
 * Keys are `app/name/...`: the manifest id first, so that a manifest's entries can be
 * forgotten together.
 */
export class ReadySince {
  private readonly since = new Map<string, number>();

  /** Notes whether `key` is ready at `now`: the first time it is, `now` is kept; not ready forgets it. */
  see(key: string, ready: boolean, now: number): void {
    if (!ready) this.since.delete(key);
    else if (!this.since.has(key)) this.since.set(key, now);
  }

  /** When `key` was first seen ready (and has been every time since), if it is. */
  get(key: string): number | undefined {
    return this.since.get(key);
  }

  delete(key: string): void {
    this.since.delete(key);
  }

  /** Forgets every key of the manifest `id` (`app/name`). */
  forgetManifest(id: string): void {
    const prefix = `${id}/`;
    for (const k of [...this.since.keys()]) if (k.startsWith(prefix)) this.since.delete(k);
  }
}
