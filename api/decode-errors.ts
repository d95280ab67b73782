import type * as t from 'io-ts';

/**
 * Formats io-ts errors as `path: expected X, got Y`, one line per problem. PathReporter
 * names codec internals; manifest authors need the JSON path and the offending value.
 */
export function formatErrors(errors: t.Errors): string[] {
  return [...new Set(errors.map(formatError))];
}

function formatError(error: t.ValidationError): string {
  const ctx = error.context;
  // A failing union reports once, at the union, instead of once per branch.
  const unionAt = ctx.findIndex((c) => tagOf(c.type) === 'UnionType');
  const end = unionAt >= 0 ? unionAt : ctx.length - 1;
  let path = '';
  for (let i = 1; i <= end; i++) {
    const parentTag = tagOf(ctx[i - 1]!.type);
    if (parentTag === 'UnionType' || parentTag === 'IntersectionType') continue;
    const key = ctx[i]!.key;
    path += parentTag === 'ArrayType' ? `[${key}]` : path ? `.${key}` : key;
  }
  const at = ctx[end]!;
  const expected = error.message ?? friendly(at.type.name);
  const got = unionAt >= 0 ? at.actual : error.value;
  return `${path || '(manifest)'}: expected ${expected}, got ${show(got)}`;
}

function tagOf(type: t.Decoder<unknown, unknown>): string | undefined {
  return (type as { _tag?: string })._tag;
}

const FRIENDLY: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  DnsLabel: 'a DNS label (a-z, 0-9 and "-", at most 63 characters)',
  NonNegativeInt: 'an integer >= 0',
  Port: 'a port number 1-65535',
  'Array<string>': 'an array of strings',
  '{ [K in string]: string }': 'an object of string values',
};

function friendly(name: string): string {
  return FRIENDLY[name] ?? name;
}

/** A short JSON rendering of a bad value, for error messages. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
