import type * as t from 'io-ts';

/**
 * Formats io-ts errors as `path: expected X, got Y`, one line per problem. PathReporter
 * names codec internals; manifest authors need the JSON path and the offending value.
 * `whole` names the value itself when the problem is at its root.
 */
export function formatErrors(errors: t.Errors, whole = '(manifest)'): string[] {
  const described = errors.map((e) => describe(e, whole));
  // Inside a union (e.g. a service given as a port or an object), a specific complaint
  // (an unknown field) says more than "expected a port or an object"; keep only that.
  const specificUnions = new Set(described.filter((d) => d.specific && d.unionPath !== undefined).map((d) => d.unionPath));
  const kept = described.filter((d) => d.specific || d.unionPath === undefined || !specificUnions.has(d.unionPath));
  return [...new Set(kept.map((d) => d.text))];
}

interface Described {
  text: string;
  /** Carries its own message (an unknown field, a bad name) rather than a type name. */
  specific: boolean;
  /** The path of the innermost union the error is under, if any. */
  unionPath?: string;
}

function describe(error: t.ValidationError, whole: string): Described {
  const ctx = error.context;
  const unionAt = lastIndex(ctx, (c) => tagOf(c.type) === 'UnionType');
  const unionPath = unionAt >= 0 ? pathOf(ctx, unionAt) : undefined;
  if (error.message !== undefined) {
    return { text: `${pathOf(ctx, ctx.length - 1) || whole}: expected ${error.message}, got ${show(error.value)}`, specific: true, unionPath };
  }
  // A type mismatch under a union reports once, at the union, instead of once per branch.
  const end = unionAt >= 0 ? unionAt : ctx.length - 1;
  const at = ctx[end]!;
  const got = unionAt >= 0 ? at.actual : error.value;
  return { text: `${pathOf(ctx, end) || whole}: expected ${friendly(at.type.name)}, got ${show(got)}`, specific: false, unionPath };
}

/** The JSON path of context entry `end`: `services.web.port`, `command[1]`. */
function pathOf(ctx: t.Context, end: number): string {
  let path = '';
  for (let i = 1; i <= end; i++) {
    const parentTag = tagOf(ctx[i - 1]!.type);
    const key = ctx[i]!.key;
    if (parentTag === 'UnionType' || parentTag === 'IntersectionType' || key === '') continue;
    path += parentTag === 'ArrayType' ? `[${key}]` : path ? `.${key}` : key;
  }
  return path;
}

function lastIndex<T>(items: readonly T[], pred: (x: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i]!)) return i;
  return -1;
}

function tagOf(type: t.Decoder<unknown, unknown>): string | undefined {
  return (type as { _tag?: string })._tag;
}

const FRIENDLY: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  Manifest: 'a JSON object',
  ServiceObject: 'an object {port, protocol?, role?}',
  DnsLabel: 'a DNS label (a-z, 0-9 and "-", at most 63 characters)',
  NonNegativeInt: 'an integer >= 0',
  Port: 'a port number 1-65535',
  'Array<string>': 'an array of strings',
  // links: the codec's own name would read "expected Array<LinkRef>".
  'Array<LinkRef>': 'an array of service names ("svc" or "app/svc")',
  '{ [K in string]: string }': 'an object of string values',
  '{ [K in string]: number }': 'an object of number values',
};

function friendly(name: string): string {
  return FRIENDLY[name] ?? name;
}

/** A short JSON rendering of a bad value, for error messages. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = stringify(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * JSON.stringify recurses and throws past a few thousand levels of nesting, where
 * JSON.parse does not: a manifest or record nested that deep must get an error message,
 * not a RangeError out of the decoder.
 */
function stringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? '[[[... (an array nested too deep to show)' : '{{{... (an object nested too deep to show)';
  }
}
