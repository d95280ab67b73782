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

  constructor(private readonly badForMs = 5_000) {}

  /** Replaces the endpoints (from the watch). A bad mark survives while its endpoint stays. */
  set(upstreams: Upstream[]): void {
    const unique = new Map(upstreams.map((u) => [upstreamKey(u), { host: u.host, port: u.port }]));
    this.upstreams = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, u]) => u);
    for (const key of [...this.badUntil.keys()]) if (!unique.has(key)) this.badUntil.delete(key);
  }

  get size(): number {
    return this.upstreams.length;
  }

  /** The next endpoint that is neither bad nor in `tried`; undefined when there is none. */
  pick(now: number, tried: ReadonlySet<string> = new Set()): Upstream | undefined {
    const n = this.upstreams.length;
    for (let i = 0; i < n; i++) {
      const index = (this.cursor + i) % n;
      const u = this.upstreams[index]!;
      const key = upstreamKey(u);
      if (tried.has(key) || (this.badUntil.get(key) ?? 0) > now) continue;
      this.cursor = (index + 1) % n;
      return u;
    }
    return undefined;
  }

  /** The endpoint refused a connection or did not answer: skip it for a while. */
  markBad(u: Upstream, now: number): void {
    if (this.upstreams.some((x) => upstreamKey(x) === upstreamKey(u))) this.badUntil.set(upstreamKey(u), now + this.badForMs);
  }

  isBad(u: Upstream, now: number): boolean {
    return (this.badUntil.get(upstreamKey(u)) ?? 0) > now;
  }
}
