/** Where the ambassador can send a connection: one endpoint of a service. */
export interface Upstream {
  host: string;
  port: number;
}

export function upstreamKey(u: Upstream): string {
  return `${u.host}:${u.port}`;
}

/**
 * Chooses the endpoint for each new connection to a service: round-robin over its current
 * endpoints, skipping those marked bad (they refused or timed out) until `badForMs` has
 * passed, and those already tried for this connection. Pure: time is passed in.
 */
export class EndpointPicker {
  private upstreams: Upstream[] = [];
  private cursor = 0;
  private readonly badUntil = new Map<string, number>();
  /** Where the endpoints are read from when they changed (follow); undefined: only set() sets them. */
  private source: (() => Iterable<Upstream>) | undefined;
  private stale = false;

  constructor(private readonly badForMs = 5_000) {}

  /** Replaces the endpoints. A bad mark survives while its endpoint stays. */
  set(upstreams: Iterable<Upstream>): void {
    this.source = undefined;
    this.stale = false;
    this.replace(upstreams);
  }

  /**
   * Reads the endpoints from `source` whenever `changed()` was called since the last
   * connection, not at every change: a host sees every endpoint change of the cluster, and a
   * service of n endpoints would otherwise cost n per change.
   */
  follow(source: () => Iterable<Upstream>): void {
    this.source = source;
    this.stale = true;
  }

  /** The followed source changed. */
  changed(): void {
    if (this.source) this.stale = true;
  }

  get size(): number {
    return this.current().length;
  }

  /** The next endpoint that is neither bad nor in `tried`; undefined when there is none. */
  pick(now: number, tried: ReadonlySet<string> = new Set()): Upstream | undefined {
    const upstreams = this.current();
    const n = upstreams.length;
    for (let i = 0; i < n; i++) {
      const index = (this.cursor + i) % n;
      const u = upstreams[index]!;
      const key = upstreamKey(u);
      if (tried.has(key) || (this.badUntil.get(key) ?? 0) > now) continue;
      this.cursor = (index + 1) % n;
      return u;
    }
    return undefined;
  }

  /** The endpoint refused a connection or did not answer: skip it for a while. */
  markBad(u: Upstream, now: number): void {
    if (this.current().some((x) => upstreamKey(x) === upstreamKey(u))) this.badUntil.set(upstreamKey(u), now + this.badForMs);
  }

  isBad(u: Upstream, now: number): boolean {
    this.current();
    return (this.badUntil.get(upstreamKey(u)) ?? 0) > now;
  }

  private current(): Upstream[] {
    if (this.stale && this.source) {
      this.stale = false;
      this.replace(this.source());
    }
    return this.upstreams;
  }

  private replace(upstreams: Iterable<Upstream>): void {
    const unique = new Map<string, Upstream>();
    for (const u of upstreams) unique.set(upstreamKey(u), { host: u.host, port: u.port });
    this.upstreams = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, u]) => u);
    for (const key of [...this.badUntil.keys()]) if (!unique.has(key)) this.badUntil.delete(key);
  }
}
