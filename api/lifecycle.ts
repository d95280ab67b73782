import * as t from 'io-ts';
import { closedType } from './closed-type.js';
import { Port } from './ports.js';

/** A duration: seconds as a number, or a string such as "500ms", "10s", "2m". */
export const Duration = new t.Type<number, number | string, unknown>(
  'a duration (seconds, or a string like "500ms", "10s", "2m")',
  (u): u is number => typeof u === 'number' && u >= 0,
  (u, c) => {
    const ms = parseDurationMs(u);
    return ms === undefined ? t.failure(u, c) : t.success(ms);
  },
  (ms) => ms,
);

export function parseDurationMs(u: unknown): number | undefined {
  if (typeof u === 'number') return Number.isFinite(u) && u >= 0 ? u * 1000 : undefined;
  if (typeof u !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(u.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

export interface PositiveIntBrand {
  readonly PositiveInt: unique symbol;
}
const PositiveInt = t.brand(t.number, (n): n is t.Branded<number, PositiveIntBrand> => Number.isInteger(n) && n >= 1, 'PositiveInt');

const HttpCheck = closedType('HttpCheck', { port: Port }, { path: t.string });

/** `health: {tcp: PORT}`, `{http: {port, path}}` or `{cmd: [...]}`, with optional timing. */
export const Health = new t.Type<t.TypeOf<typeof HealthFields>, unknown, unknown>(
  'Health',
  (u): u is t.TypeOf<typeof HealthFields> => HealthFields.is(u),
  (u, c) => {
    const r = HealthFields.validate(u, c);
    if (r._tag === 'Left') return r;
    const kinds = (['tcp', 'http', 'cmd'] as const).filter((k) => r.right[k] !== undefined);
    return kinds.length === 1 ? r : t.failure(u, c, 'exactly one of "tcp", "http" or "cmd"');
  },
  (a) => a,
);
const HealthFields = closedType(
  'Health',
  {},
  {
    tcp: Port,
    http: HttpCheck,
    cmd: t.array(t.string),
    interval: Duration,
    timeout: Duration,
    retries: PositiveInt,
    startPeriod: Duration,
  },
);

export const UpdateOrder = t.keyof({ 'start-first': null, 'stop-first': null }, '"start-first" or "stop-first"');

export const Update = closedType('Update', {}, { parallelism: PositiveInt, order: UpdateOrder, delay: Duration, deadline: Duration });

/** A health check with its defaults applied (in placements' specs). */
export const HealthSpec = t.intersection(
  [
    t.type({ kind: t.keyof({ tcp: null, http: null, cmd: null }), intervalMs: t.number, timeoutMs: t.number, retries: t.number, startPeriodMs: t.number }),
    t.partial({ port: t.number, path: t.string, cmd: t.array(t.string) }),
  ],
  'HealthSpec',
);
export type HealthSpec = t.TypeOf<typeof HealthSpec>;

/** An update policy with its defaults applied (in placements' specs). */
export const UpdateSpec = t.type(
  {
    parallelism: t.number,
    order: UpdateOrder,
    delayMs: t.number,
    /** A new replica not running and ready within this time stops the rollout. */
    deadlineMs: t.number,
  },
  'UpdateSpec',
);
export type UpdateSpec = t.TypeOf<typeof UpdateSpec>;

export function normalizeHealth(h: t.TypeOf<typeof HealthFields> | undefined): HealthSpec | undefined {
  if (!h) return undefined;
  const timing = {
    intervalMs: h.interval ?? 5_000,
    timeoutMs: h.timeout ?? 2_000,
    retries: h.retries ?? 3,
    startPeriodMs: h.startPeriod ?? 0,
  };
  if (h.tcp !== undefined) return { kind: 'tcp', port: h.tcp, ...timing };
  if (h.http !== undefined) return { kind: 'http', port: h.http.port, path: h.http.path ?? '/', ...timing };
  return { kind: 'cmd', cmd: [...(h.cmd ?? [])], ...timing };
}

export function normalizeUpdate(u: t.TypeOf<typeof Update> | undefined): UpdateSpec {
  return {
    parallelism: u?.parallelism ?? 1,
    // Swarm's default; start-first needs room for one more container per replica.
    order: u?.order ?? 'stop-first',
    delayMs: u?.delay ?? 0,
    deadlineMs: u?.deadline ?? 120_000,
  };
}
