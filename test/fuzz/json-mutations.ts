import fc from 'fast-check';

/**
 * Hostile JSON pieces shared by the manifest and record fuzzers: values of every wrong type,
 * names no schema allows, nesting deeper than any recursive code survives, and text that
 * is not JSON or not UTF-8.
 */

/** Nesting this deep is put in as text (see DEEP): building it as a value would overflow our own JSON.stringify. */
// JSON.stringify gives up near 10,000 levels here; JSON.parse does not.
const DEPTHS = [20, 1_000, 12_000];
const DEEP = '\u0000deep:';

/** A value that stands for `depth` nested arrays or objects once `expandDeep` has run on the JSON text. */
const deepMarker = fc.record({ depth: fc.constantFrom(...DEPTHS), kind: fc.constantFrom('[', '{') }).map(({ depth, kind }) => `${DEEP}${kind}${depth}`);

/** Replaces each deep marker in JSON text by its nesting. */
export function expandDeep(json: string): string {
  return json.replace(/"\\u0000deep:([[{])(\d+)"/g, (_, kind: string, n: string) => {
    const depth = Number(n);
    return kind === '[' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  });
}

export const weirdNumber = fc.constantFrom(-1, 0, 0.5, 1.5, -0.000001, 65_536, 2 ** 31, 2 ** 53 + 2, 1e21, 1e308, -1e308, 5e-324);
export const longString = fc.constantFrom(300, 5_000, 60_000).chain((n) => fc.constantFrom('a', 'é', '\u{1F600}', '/', '%').map((c) => c.repeat(n)));
export const weirdString = fc.oneof(
  fc.constantFrom('', ' ', '\t', '0', '-1', 'ALL', 'true', 'null', '..', '/', '/..', 'a/b/c', 'Web_1', 'UPPER', 'ü', '\u0000', '\uFFFD', '\uD800', '10zz', '1e3', '64Mi', '-5s', 'localhost:0'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
/** An object key no schema asks for, including the ones JavaScript treats specially. */
export const weirdKey = fc.oneof(
  fc.constantFrom('', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Web_1', 'x'.repeat(64), 'a b', 'ü', '0', 'CAP_'),
  fc.string({ maxLength: 20 }),
);
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 6 },
  { arbitrary: weirdNumber, weight: 4 },
  { arbitrary: weirdString, weight: 4 },
  { arbitrary: fc.constantFrom(true, false, null, [], {}, [null], { '': null }), weight: 2 },
  // Rarer: each costs every process that reads it real time (a 60 KB string, a stack overflow caught).
  { arbitrary: longString, weight: 1 },
  { arbitrary: deepMarker, weight: 1 },
);

/** Sets a property as data, even `__proto__` (plain assignment would set the prototype instead). */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Every path to a node of a JSON value (the root is []). */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const inner = Array.isArray(value)
    ? value.flatMap((v, i) => pathsOf(v, [...at, i]))
    : typeof value === 'object' && value !== null
      ? Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...at, k]))
      : [];
  return [at, ...inner];
}

export type Mutation =
  | { op: 'set'; pick: number; value: unknown }
  | { op: 'delete'; pick: number }
  | { op: 'add'; pick: number; key: string; value: unknown }
  | { op: 'rename'; pick: number; key: string };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), pick: fc.nat(), value: weirdValue }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('add' as const), pick: fc.nat(), key: weirdKey, value: weirdValue }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('rename' as const), pick: fc.nat(), key: weirdKey }), weight: 2 },
);

/** `base` with one mutation applied at the path `pick` selects (modulo the number of paths); `base` is not changed. */
export function mutate(base: unknown, m: Mutation): unknown {
  const root = structuredClone(base);
  const paths = pathsOf(root);
  const path = paths[m.pick % paths.length]!;
  if (path.length === 0) return m.op === 'set' ? m.value : root;
  const parent = path.slice(0, -1).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], root) as Record<string, unknown> | unknown[];
  const last = path[path.length - 1]!;
  const target = (parent as Record<string | number, unknown>)[last];
  switch (m.op) {
    case 'set':
      if (Array.isArray(parent)) parent[last as number] = m.value;
      else define(parent, String(last), m.value);
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[String(last)];
      break;
    case 'add':
      if (typeof target === 'object' && target !== null && !Array.isArray(target)) define(target as Record<string, unknown>, m.key, m.value);
      else if (Array.isArray(target)) target.push(m.value);
      else if (!Array.isArray(parent)) define(parent, m.key, m.value);
      break;
    case 'rename':
      if (!Array.isArray(parent)) {
        delete parent[String(last)];
        define(parent, m.key, target);
      }
      break;
  }
  return root;
}

/** Text as users could get it wrong, from a JSON value: truncated, with junk around it, or a byte that is not UTF-8. */
export type Corruption = { how: 'none' } | { how: 'truncate'; at: number } | { how: 'prefix' | 'suffix'; junk: string } | { how: 'badUtf8'; at: number; bytes: number[] };

export const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  { arbitrary: fc.constant({ how: 'none' as const }), weight: 6 },
  { arbitrary: fc.record({ how: fc.constant('truncate' as const), at: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ how: fc.constantFrom('prefix' as const, 'suffix' as const), junk: fc.constantFrom('\uFEFF', ',', '}', ' x', '\u0000', '//', '{}') }), weight: 1 },
  { arbitrary: fc.record({ how: fc.constant('badUtf8' as const), at: fc.nat(), bytes: fc.array(fc.constantFrom(0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf8, 0xfe, 0xff), { minLength: 1, maxLength: 4 }) }), weight: 2 },
);

/** The bytes written to etcd for `value` under `c`. */
export function encode(value: unknown, c: Corruption): Buffer {
  const text = expandDeep(JSON.stringify(value) ?? 'undefined');
  const bytes = Buffer.from(text);
  switch (c.how) {
    case 'none':
      return bytes;
    case 'truncate':
      return bytes.subarray(0, c.at % Math.max(1, bytes.length));
    case 'prefix':
      return Buffer.concat([Buffer.from(c.junk), bytes]);
    case 'suffix':
      return Buffer.concat([bytes, Buffer.from(c.junk)]);
    case 'badUtf8': {
      const at = c.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(c.bytes), bytes.subarray(at)]);
    }
  }
}

/** Bytes that are not a value at all: empty, blank, binary noise, not JSON. */
export const junkBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom('', ' ', '\n', 'null', 'undefined', '{', '}', '[]', '""', 'NaN', '{"a":1,}', "{'a':1}", '\uFEFF{}').map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
);
