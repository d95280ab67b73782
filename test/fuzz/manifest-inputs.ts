import fc from 'fast-check';
import { decodeManifest, type DecodeResult } from '../../api/manifest.js';
import { corruption, encode, expandDeep, junkBytes, mutate, mutation, weirdKey, weirdValue } from './json-mutations.js';

/**
 * A valid manifest that uses every field, with scale 0 so that whatever of it stays valid
 * after a mutation runs nothing. Mutating it reaches every nested codec of api/manifest.ts.
 */
export const RICH_MANIFEST = {
  image: 'dokkaa/busybox',
  scale: 0,
  command: ['sleep', '3600'],
  env: { MODE: 'fuzz', DB_PASSWORD: { secret: 'db' } },
  secrets: { db: '/run/secrets/db' },
  configs: { app: '/etc/app.conf' },
  services: { web: 80, api: { port: 8080, protocol: 'tcp', role: 'web', hosts: ['fuzz.example.com'], httpsRedirect: true, proxyProtocol: false } },
  links: ['web', 'other/db'],
  restart: 'on-failure',
  constraints: { zone: 'a' },
  health: { http: { port: 8080, path: '/health' }, interval: '5s', timeout: '1s', retries: 3, startPeriod: '2s' },
  update: { parallelism: 1, order: 'stop-first', delay: '1s', deadline: '2m' },
  stopGracePeriod: '10s',
  resources: { cpus: 0.5, memory: '64Mi' },
  placement: { strategy: 'spread', spreadBy: 'zone', maxPerNode: 2 },
  volumes: { data: '/data', logs: { path: '/logs', readOnly: true } },
  volumeLoss: 'wait',
  user: '1000:1000',
  readOnlyRootfs: true,
  capAdd: ['NET_ADMIN'],
  capDrop: ['ALL'],
};

/** Every top-level field a manifest may have (RICH_MANIFEST uses them all). */
const FIELDS = Object.keys(RICH_MANIFEST);

/** How a case's app or manifest name is spelt: fine, or wrong in one of the ways a key segment can be. */
const NAME_STYLES = ['ok', 'upper', 'underscore', 'long', 'unicode', 'space', 'dot', 'leadingDash'] as const;
type NameStyle = (typeof NAME_STYLES)[number];
/** Mostly fine: a bad name is the first error, and would hide every error of the content. */
const nameStyle = fc.oneof({ arbitrary: fc.constant<NameStyle>('ok'), weight: 40 }, { arbitrary: fc.constantFrom(...NAME_STYLES.slice(1)), weight: 7 });

function styled(base: string, style: NameStyle): string {
  switch (style) {
    case 'ok': return base;
    case 'upper': return base.toUpperCase();
    case 'underscore': return `${base}_x`;
    case 'long': return `${base}-${'x'.repeat(64)}`;
    case 'unicode': return `${base}-\u00fc`;
    case 'space': return `${base} x`;
    case 'dot': return `${base}.x`;
    case 'leadingDash': return `-${base}`;
  }
}

/** What a case is before it is given its names (an index makes those unique). */
export interface ManifestShape {
  kind: 'mutated' | 'json' | 'fields' | 'junk';
  bytes: Buffer;
  appStyle: NameStyle;
  nameStyle: NameStyle;
}

const mutated = fc.record({ mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }), corrupt: corruption })
  .map(({ mutations, corrupt }) => encode(mutations.reduce<unknown>(mutate, RICH_MANIFEST), corrupt));
/** Any JSON at all (mostly not an object, or without an image). */
const anyJson = fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null'));
/** The manifest's own field names with values of any type: past the object check, into each field's codec. */
const fields = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), weirdKey), weirdValue, { maxKeys: 6 })
  .map((o) => Buffer.from(expandDeep(JSON.stringify({ image: 'dokkaa/busybox', ...o }))));

const withKind = (kind: ManifestShape['kind'], bytes: fc.Arbitrary<Buffer>) => bytes.map((b) => ({ kind, bytes: b }));

export const manifestShape: fc.Arbitrary<ManifestShape> = fc.record({
  content: fc.oneof(
    { arbitrary: withKind('mutated', mutated), weight: 6 },
    { arbitrary: withKind('json', anyJson), weight: 1 },
    { arbitrary: withKind('fields', fields), weight: 2 },
    { arbitrary: withKind('junk', junkBytes), weight: 1 },
  ),
  appStyle: nameStyle,
  nameStyle,
}).map(({ content, appStyle, nameStyle }) => ({ ...content, appStyle, nameStyle }));

export interface ManifestCase {
  index: number;
  kind: ManifestShape['kind'];
  app: string;
  name: string;
  bytes: Buffer;
  /** What the controllers' decoder makes of the bytes as they read them (UTF-8, bad bytes replaced). */
  expected: DecodeResult;
}

/**
 * The case a shape becomes as the `index`th of a run under `appBase`. A manifest that is
 * still valid is brought to scale 0 (and replicated), so that the fuzz runs no containers:
 * it must only be accepted.
 */
export function manifestCase(shape: ManifestShape, index: number, appBase: string): ManifestCase {
  const app = styled(appBase, shape.appStyle);
  const name = styled(`m${index}`, shape.nameStyle);
  let bytes = shape.bytes;
  let expected = decodeManifest(bytes.toString(), app, name);
  if (expected.ok && (expected.spec.scale !== 0 || expected.spec.mode === 'global')) {
    const { mode: _mode, ...rest } = JSON.parse(bytes.toString()) as Record<string, unknown>;
    bytes = Buffer.from(JSON.stringify({ ...rest, scale: 0 }));
    expected = decodeManifest(bytes.toString(), app, name);
    if (expected.ok && expected.spec.scale !== 0) throw new Error(`case ${index} still runs replicas: ${bytes.toString().slice(0, 200)}`);
  }
  return { index, kind: shape.kind, app, name, bytes, expected };
}
