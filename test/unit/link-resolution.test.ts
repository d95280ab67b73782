import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceId } from '../../api/keys.js';
import { linkEnv } from '../../api/link-env.js';
import { resolveLinks, type LinkedService } from '../../controllers/link-injector/link-resolution.js';
import type { LinkSpec } from '../../api/manifest.js';
import type { LinkRecord } from '../../api/records.js';

/** serviceOf over a table keyed `app/service`, recording what was asked. */
function table(entries: Record<string, LinkedService>) {
  const asked: string[] = [];
  return {
    asked,
    serviceOf: (l: LinkSpec): LinkedService => {
      asked.push(serviceId(l.app, l.service));
      return entries[serviceId(l.app, l.service)] ?? { port: undefined, hasEndpoint: false };
    },
  };
}

const tcp = (port: number): LinkedService['port'] => ({ port, protocol: 'tcp' });

describe('resolveLinks', () => {
  it('resolves each link to its service\'s port, keyed by the env name (upper case, "-" as "_")', () => {
    const t = table({ 'shop/my-db': { port: tcp(20001), hasEndpoint: true }, 'shop/nginx': { port: { port: 20000, protocol: 'udp' }, hasEndpoint: true } });
    const r = resolveLinks([{ app: 'shop', service: 'my-db' }, { app: 'shop', service: 'nginx' }], t.serviceOf, {});
    assert.deepEqual(r, {
      links: {
        MY_DB: { app: 'shop', service: 'my-db', port: 20001, protocol: 'tcp' },
        NGINX: { app: 'shop', service: 'nginx', port: 20000, protocol: 'udp' },
      },
      missing: [],
    });
  });

  it('leaves a link missing until its service has a port and, the first time, an endpoint', () => {
    const t = table({
      'shop/nginx': { port: tcp(20000), hasEndpoint: true },
      'shop/db': { port: tcp(20001), hasEndpoint: false },
      'infra/cache': { port: undefined, hasEndpoint: true },
    });
    const r = resolveLinks([{ app: 'shop', service: 'nginx' }, { app: 'shop', service: 'db' }, { app: 'infra', service: 'cache' }], t.serviceOf, {});
    assert.deepEqual(r.missing, ['shop/db', 'infra/cache']);
    assert.deepEqual(Object.keys(r.links), ['NGINX']);
  });

  it('keeps a link resolved without endpoints once it was resolved with the same port', () => {
    const previous: LinkRecord['links'] = { NGINX: { app: 'shop', service: 'nginx', port: 20000, protocol: 'tcp' } };
    const t = table({ 'shop/nginx': { port: tcp(20000), hasEndpoint: false } });
    assert.deepEqual(resolveLinks([{ app: 'shop', service: 'nginx' }], t.serviceOf, previous), { links: previous, missing: [] });
  });

  it('does not keep it when the port changed, or the previous resolution was of another service', () => {
    const t = table({ 'shop/nginx': { port: tcp(20005), hasEndpoint: false }, 'web/nginx': { port: tcp(20000), hasEndpoint: false } });
    const previous: LinkRecord['links'] = { NGINX: { app: 'shop', service: 'nginx', port: 20000, protocol: 'tcp' } };
    assert.deepEqual(resolveLinks([{ app: 'shop', service: 'nginx' }], t.serviceOf, previous).missing, ['shop/nginx']);
    assert.deepEqual(resolveLinks([{ app: 'web', service: 'nginx' }], t.serviceOf, previous).missing, ['web/nginx']);
  });

  it('resolves nothing and misses nothing without links', () => {
    assert.deepEqual(resolveLinks([], () => assert.fail('not asked'), {}), { links: {}, missing: [] });
  });

  it('asks for the linked app\'s service on a cross-app link and names the env after the service', () => {
    const t = table({ 'infra/nginx': { port: tcp(20007), hasEndpoint: true }, 'shop/nginx': { port: tcp(1), hasEndpoint: true } });
    const r = resolveLinks([{ app: 'infra', service: 'nginx' }], t.serviceOf, {});
    assert.deepEqual(t.asked, ['infra/nginx']);
    assert.deepEqual(r.links, { NGINX: { app: 'infra', service: 'nginx', port: 20007, protocol: 'tcp' } });
  });

  it('gives an env name shared by two services (nginx, other/nginx) to the first link listed', () => {
    const t = table({ 'shop/nginx': { port: tcp(20000), hasEndpoint: true }, 'other/nginx': { port: tcp(20001), hasEndpoint: true } });
    const r = resolveLinks([{ app: 'other', service: 'nginx' }, { app: 'shop', service: 'nginx' }], t.serviceOf, {});
    assert.deepEqual(r, { links: { NGINX: { app: 'other', service: 'nginx', port: 20001, protocol: 'tcp' } }, missing: [] });
  });

  it('lists a link given twice once', () => {
    const r = resolveLinks([{ app: 'a', service: 'x' }, { app: 'a', service: 'x' }], () => ({ port: undefined, hasEndpoint: false }), {});
    assert.deepEqual(r.missing, ['a/x']);
  });
});

describe('linkEnv', () => {
  it('points SERVICE_<NAME>_ADDR at the ambassador and SERVICE_<NAME>_PORT at the link port', () => {
    const links: LinkRecord['links'] = {
      NGINX: { app: 'shop', service: 'nginx', port: 20000, protocol: 'tcp' },
      MY_DB: { app: 'infra', service: 'my-db', port: 20001, protocol: 'tcp' },
    };
    assert.deepEqual(linkEnv(links, '172.17.0.1'), {
      SERVICE_NGINX_ADDR: '172.17.0.1',
      SERVICE_NGINX_PORT: '20000',
      SERVICE_MY_DB_ADDR: '172.17.0.1',
      SERVICE_MY_DB_PORT: '20001',
    });
  });
});
