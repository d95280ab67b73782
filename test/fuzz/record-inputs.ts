import fc from 'fast-check';
import * as t from 'io-ts';
import type { Keys } from '../../api/keys.js';
import * as records from '../../api/records.js';
import { Resources, type ManifestEntry, type PolicyEntry } from '../../src/informer/resources.js';
import type { ResourceSpec } from '../../src/informer/informer-factory.js';
import { corruption, encode, expandDeep, junkBytes, mutate, mutation, weirdKey, weirdValue } from './json-mutations.js';
import { keyLayout, type KeyLayout } from './key-sections.js';

/** One malformed record: a key under some prefix the controllers or agents read, and bytes that are no record of it. */
export interface RecordCase {
  section: string;
  key: Buffer;
  value: Buffer;
}

/** Field names of an io-ts codec's objects, at every depth it declares. */
function fieldNames(codec: unknown, into = new Set<string>()): Set<string> {
  const c = codec as { _tag?: string; props?: Record<string, unknown>; types?: unknown[]; type?: unknown; codomain?: unknown };
  if (c.props) for (const [k, v] of Object.entries(c.props)) into.add(k), fieldNames(v, into);
  for (const inner of c.types ?? []) fieldNames(inner, into);
  if (c.type) fieldNames(c.type, into);
  if (c.codomain) fieldNames(c.codomain, into);
  return into;
}

/** Every field name any record of api/records.ts has: objects made of them get past the first checks of each codec. */
export const RECORD_FIELDS = [...(Object.values(records) as unknown[]).filter((v): v is t.Any => v instanceof t.Type).reduce((all, codec) => fieldNames(codec, all), new Set<string>())].sort();

/** A record-like object: record field names with values of any type, and now and then nested fields. */
const recordLike = fc.dictionary(fc.oneof({ arbitrary: fc.constantFrom(...RECORD_FIELDS), weight: 4 }, { arbitrary: weirdKey, weight: 1 }), weirdValue, { minKeys: 1, maxKeys: 8 });
const recordValue: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: junkBytes, weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')), weight: 2 },
  { arbitrary: recordLike.map((o) => Buffer.from(expandDeep(JSON.stringify(o)))), weight: 4 },
  { arbitrary: fc.record({ o: recordLike, m: mutation, c: corruption }).map(({ o, m, c }) => encode(mutate(o, m), c)), weight: 2 },
);

/**
 * A key segment: the agent's own node name (so that per-node prefixes are reached),
 * fine-looking names, numbers (replica indices, ports) and names no parser expects.
 */
function segment(node: string): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constant(node), weight: 2 },
    { arbitrary: fc.stringMatching(/^fzr-[a-z0-9-]{1,10}$/), weight: 3 },
    { arbitrary: fc.constantFrom('0', '1', '7', '65535', '99999999999999999999', '-1', '01', '1.5', '1e3'), weight: 2 },
    { arbitrary: fc.constantFrom('Bad_Name', 'UPPER', '\u00fc', ' ', '.', '..', '%2F', 'x'.repeat(300), '\uFFFD'), weight: 1 },
    { arbitrary: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('/')), weight: 1 },
  );
}

/** The informer specs the processes run, one per prefix, to tell a record that decodes (an instruction, not bad input) from one that does not. */
function informerSpecs(keys: Keys, node: string): ResourceSpec<unknown>[] {
  return Object.values(Resources).map((make) => (make as (k: Keys, n: string) => ResourceSpec<unknown>)(keys, node));
}

/**
 * Whether the processes would take the record as good. A record that decodes is not bad
 * input but an instruction (a placement runs a container, a maintenance record cordons the
 * node): such a draw is dropped. `portalloc/` values are plain `app/service` strings that
 * always decode; there a value that names no service is the bad input, and it stays.
 */
function decodes(specs: ResourceSpec<unknown>[], key: string, value: string): boolean {
  const spec = specs.filter((s) => key.startsWith(s.prefix)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
  if (!spec || spec.kind === 'portalloc') return false;
  const d = spec.decode({ key, value, modRevision: 1, createRevision: 1, lease: '0' });
  // Manifests and the policy stay in the cache with their own result: the record is good only if that is.
  if (!d.ok) return false;
  if (spec.kind === 'manifest') return (d.value as ManifestEntry).result.ok;
  if (spec.kind === 'policy') return (d.value as PolicyEntry).result.ok;
  return true;
}

/**
 * Malformed records for every prefix Keys names: `perTarget` through each key builder (keys
 * that parse, with segments of every sort), `perTarget` raw keys of 1 to 5 segments (some
 * not UTF-8) under each prefix, and `perTarget` values at each single key. `protect(key)`
 * names keys that must not be written (the live records of the run); such draws are dropped.
 */
export function recordCases(keys: Keys, node: string, perTarget: number, seed: number, protect: (key: string) => boolean): RecordCase[] {
  const layout: KeyLayout = keyLayout(keys);
  const specs = informerSpecs(keys, node);
  const seg = segment(node);
  const targets: { section: string; key: fc.Arbitrary<Buffer> }[] = [
    ...layout.builders.map((b) => ({ section: b.section, key: fc.array(seg, { minLength: b.arity, maxLength: b.arity }).map((s) => Buffer.from(b.build(...s))) })),
    ...[...layout.prefixes].map(([section, prefix]) => ({
      section,
      key: fc.oneof(
        fc.array(seg, { minLength: 1, maxLength: 5 }).map((s) => Buffer.from(prefix + s.join('/'))),
        fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => Buffer.concat([Buffer.from(prefix), Buffer.from(b.map((x) => (x === 0x2f ? 0xff : x)))])),
      ),
    })),
    ...layout.singleKeys.map((k) => ({ section: keys.parseSection(k)!, key: fc.constant(Buffer.from(k)) })),
  ];
  const out: RecordCase[] = [];
  const seen = new Set<string>();
  targets.forEach((target, i) => {
    const draws = fc.sample(fc.record({ key: target.key, value: recordValue }), { seed: seed + i, numRuns: perTarget });
    for (const { key, value } of draws) {
      const k = key.toString();
      if (protect(k) || seen.has(key.toString('hex')) || decodes(specs, k, value.toString())) continue;
      seen.add(key.toString('hex'));
      out.push({ section: target.section, key, value });
    }
  });
  return out;
}
