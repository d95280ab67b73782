import { Keys, LegacyKeys } from '../../api/keys.js';

/**
 * The key layout as the fuzzer sees it, read off the Keys class by reflection so that a
 * prefix added there is fuzzed without anyone listing it here: every getter that names a
 * key or a prefix, and every method that builds a key from its arguments (its arity says
 * how many path segments it takes). Parsers (`parse*`) and builders of non-keys (endpointId,
 * eventId: their result is not under the root) are told apart by what they return.
 */
export interface KeyLayout {
  /** Getters naming a prefix (`.../placements/`): section -> the prefix. */
  prefixes: Map<string, string>;
  /** Getters naming one key (`.../router/config`, `.../cluster-key`). */
  singleKeys: string[];
  /** Methods building a key from `arity` segments, by name. */
  builders: { name: string; arity: number; section: string; build: (...segments: string[]) => string }[];
  /** Every section (first path segment) some getter or builder reaches. */
  sections: Set<string>;
  /** Members of Keys that are none of the above (parsers, non-key helpers): listed so that a test sees each one classified. */
  others: string[];
}

export function keyLayout(keys: Keys): KeyLayout {
  const layout: KeyLayout = { prefixes: new Map(), singleKeys: [], builders: [], sections: new Set(), others: [] };
  const under = (v: unknown): v is string => typeof v === 'string' && v.startsWith(keys.all) && v !== keys.all;
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(Keys.prototype))) {
    if (name === 'constructor') continue;
    if (d.get) {
      const v: unknown = d.get.call(keys);
      // The old layout's sections (Keys.legacy): the layout migrator reads them.
      if (v instanceof LegacyKeys) {
        for (const prefix of v.sections) {
          const section = keys.parseSection(prefix)!;
          layout.sections.add(section);
          layout.prefixes.set(section, prefix);
        }
        continue;
      }
      if (!under(v)) {
        layout.others.push(name);
        continue;
      }
      const section = keys.parseSection(v)!;
      layout.sections.add(section);
      if (v.endsWith('/')) layout.prefixes.set(section, v);
      else layout.singleKeys.push(v);
      continue;
    }
    const fn = d.value as (...args: unknown[]) => unknown;
    if (typeof fn !== 'function' || name.startsWith('parse')) {
      layout.others.push(name);
      continue;
    }
    const probe = fn.apply(keys, Array.from({ length: fn.length }, (_, i) => `s${i}`));
    if (!under(probe)) {
      layout.others.push(name);
      continue;
    }
    const section = keys.parseSection(probe)!;
    layout.sections.add(section);
    layout.builders.push({ name, arity: fn.length, section, build: (...segments) => fn.apply(keys, segments) as string });
  }
  return layout;
}
