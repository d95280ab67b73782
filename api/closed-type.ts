import * as t from 'io-ts';

/**
 * An object codec that rejects fields it does not know. io-ts's `exact`/`strict` strip
 * them silently; a misspelt field in a manifest ("comand") must be an error instead.
 */
export function closedType<R extends t.Props, O extends t.Props>(
  name: string,
  required: R,
  optional: O,
): t.Type<t.TypeOf<t.TypeC<R>> & t.TypeOf<t.PartialC<O>>, unknown, unknown> {
  const inner = t.intersection([t.type(required), t.partial(optional)]);
  const known = [...Object.keys(required), ...Object.keys(optional)];
  return new t.Type(
    name,
    (u): u is t.TypeOf<typeof inner> => inner.is(u) && Object.keys(u).every((k) => known.includes(k)),
    (u, c) => {
      // No message: under a union, a non-object is reported once, at the union.
      if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c);
      const record = u as Record<string, unknown>;
      const unknownFields = Object.keys(record).filter((k) => !known.includes(k));
      if (unknownFields.length > 0) {
        return t.failures(
          unknownFields.map((k) => ({
            value: record[k],
            context: [...c, { key: k, type: t.never, actual: record[k] }],
            message: `no such field (known: ${known.join(', ')})`,
          })),
        );
      }
      return inner.validate(u, t.appendContext(c, '', inner));
    },
    (a) => inner.encode(a),
  );
}

/**
 * A string-keyed record whose keys must pass `key`. io-ts's `record` with a refined domain
 * drops keys that fail instead of reporting them; a bad service name must be an error.
 */
export function checkedRecord<V extends t.Mixed>(key: t.Mixed, value: V, name: string): t.Type<Record<string, t.TypeOf<V>>, Record<string, t.OutputOf<V>>, unknown> {
  const inner = t.record(t.string, value);
  return new t.Type(
    name,
    (u): u is Record<string, t.TypeOf<V>> => inner.is(u) && Object.keys(u).every((k) => key.is(k)),
    (u, c) => {
      if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c, 'an object');
      const record = u as Record<string, unknown>;
      const badKeys = Object.keys(record).filter((k) => !key.is(k));
      if (badKeys.length > 0) {
        return t.failures(
          badKeys.map((k) => ({ value: k, context: [...c, { key: k, type: key, actual: k }], message: key.name === 'DnsLabel' ? 'a DNS label (a-z, 0-9 and "-", at most 63 characters) as the name' : `${key.name} as the name` })),
        );
      }
      return inner.validate(u, c);
    },
    (a) => inner.encode(a),
  );
}
