import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveLinks } from '../../controllers/link-injector/link-resolution.js';
import type { LinkSpec } from '../../api/manifest.js';
import type { EndpointRecord } from '../../api/records.js';
import { endpoint } from './builders.js';

/** endpointsOf over a table keyed `app/service`, recording what was asked. */
function table(entries: Record<string, EndpointRecord[]>) {
  const asked: string[] = [];
  return {
    asked,
    endpointsOf: (l: LinkSpec) => {
      asked.push(`${l.app}/${l.service}`);
      return entries[`${l.app}/${l.service}`] ?? [];
    },
  };
}

describe('resolveLinks', () => {
  it('sets SERVICE_<NAME>_ADDR and _PORT, upper case with "-" as "_"', () => {
    const t = table({ 'shop/my-db': [endpoint('10.0.0.5', 32768)], 'shop/nginx': [endpoint('10.0.0.6', 32769)] });
    const r = resolveLinks([{ app: 'shop', service: 'my-db' }, { app: 'shop', service: 'nginx' }], t.endpointsOf, {});
    assert.deepEqual(r, {
      env: {
        SERVICE_MY_DB_ADDR: '10.0.0.5',
        SERVICE_MY_DB_PORT: '32768',
        SERVICE_NGINX_ADDR: '10.0.0.6',
        SERVICE_NGINX_PORT: '32769',
      },
      missing: [],
    });
  });

  it('lists links without an endpoint as missing, as app/service, and sets no env for them', () => {
    const t = table({ 'shop/nginx': [endpoint('h', 1)] });
    const r = resolveLinks(
      [{ app: 'shop', service: 'nginx' }, { app: 'shop', service: 'db' }, { app: 'infra', service: 'cache' }],
      t.endpointsOf,
      { SERVICE_DB_ADDR: 'old', SERVICE_DB_PORT: '1' },
    );
    assert.deepEqual(r.missing, ['shop/db', 'infra/cache']);
    assert.deepEqual(r.env, { SERVICE_NGINX_ADDR: 'h', SERVICE_NGINX_PORT: '1' });
  });

  it('resolves nothing and misses nothing without links', () => {
    assert.deepEqual(resolveLinks([], () => assert.fail('not asked'), { SERVICE_X_ADDR: 'a' }), { env: {}, missing: [] });
  });

  it('takes the first endpoint when there is no previous choice', () => {
    const t = table({ 'shop/nginx': [endpoint('h1', 1), endpoint('h2', 2)] });
    assert.deepEqual(resolveLinks([{ app: 'shop', service: 'nginx' }], t.endpointsOf, {}).env, {
      SERVICE_NGINX_ADDR: 'h1',
      SERVICE_NGINX_PORT: '1',
    });
  });

  it('sticks to the previous endpoint while it exists', () => {
    const t = table({ 'shop/nginx': [endpoint('h1', 1), endpoint('h2', 2), endpoint('h3', 3)] });
    const previous = { SERVICE_NGINX_ADDR: 'h2', SERVICE_NGINX_PORT: '2' };
    assert.deepEqual(resolveLinks([{ app: 'shop', service: 'nginx' }], t.endpointsOf, previous).env, previous);
  });

  it('needs both host and port to match to stick', () => {
    const t = table({ 'shop/nginx': [endpoint('h1', 1), endpoint('h2', 2)] });
    const r = resolveLinks([{ app: 'shop', service: 'nginx' }], t.endpointsOf, { SERVICE_NGINX_ADDR: 'h2', SERVICE_NGINX_PORT: '1' });
    assert.deepEqual(r.env, { SERVICE_NGINX_ADDR: 'h1', SERVICE_NGINX_PORT: '1' });
  });

  it('moves to an endpoint that exists when the previous one is gone', () => {
    const t = table({ 'shop/nginx': [endpoint('h3', 3), endpoint('h1', 1)] });
    const r = resolveLinks([{ app: 'shop', service: 'nginx' }], t.endpointsOf, { SERVICE_NGINX_ADDR: 'h2', SERVICE_NGINX_PORT: '2' });
    assert.deepEqual(r.env, { SERVICE_NGINX_ADDR: 'h3', SERVICE_NGINX_PORT: '3' });
  });

  it('asks for the linked app\'s endpoints on a cross-app link', () => {
    const t = table({ 'infra/nginx': [endpoint('10.1.1.1', 80, { app: 'infra' })], 'shop/nginx': [endpoint('wrong', 1)] });
    const r = resolveLinks([{ app: 'infra', service: 'nginx' }], t.endpointsOf, {});
    assert.deepEqual(t.asked, ['infra/nginx']);
    assert.deepEqual(r.env, { SERVICE_NGINX_ADDR: '10.1.1.1', SERVICE_NGINX_PORT: '80' });
  });
});
