import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { Keys } from '../../api/keys.js';
import { Router } from '../../controllers/router/router.js';
import { AppEndpoints } from '../../src/agent/app-endpoints.js';
import type { NodeLease } from '../../src/agent/node-lease.js';
import { SystemClock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { endpoint } from './builders.js';
import { FakeKvStore } from './fake-kv-store.js';
import { eventually, freePort, getWithHost, LocalBackends } from './local-http.js';
import { makeCa, serverCert } from './router-certs.js';

const backends = new LocalBackends();
/** What the route publisher writes for an admitted web manifest (controllers/route-publisher). */
const routes = (manifest: object, revision = 1) => JSON.stringify({ manifest: JSON.stringify(manifest), revision, createRevision: 1 });
const get = (port: number, host: string) => getWithHost(port, host);

describe('Router (fake etcd, the real haproxy on 127.0.0.1)', () => {
  const keys = new Keys('/d');
  const store = new FakeKvStore();
  const lines: { message: string; [k: string]: unknown }[] = [];
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: new Writable({ write: (chunk, _e, cb) => (lines.push(JSON.parse(String(chunk))), cb()) }) })],
  });
  const said = (message: string) => lines.filter((l) => l.message === message);
  let dir = '';
  let router: Router;
  let httpPort = 0;
  let httpsPort = 0;
  let ca = { cert: '', key: '', certFile: '', keyFile: '' };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'router-'));
    [httpPort, httpsPort] = [await freePort(), await freePort()];
    ca = await makeCa(dir);
    const clock = new SystemClock();
    const config = { node: 'n1', routerHttpPort: httpPort, routerHttpsPort: httpsPort, routerDir: dir } as Config;
    const informers = new InformerFactory(store, clock, log);
    const factory = new ControllerFactory(informers, clock, log, { resyncSeconds: 30 });
    const lease = { address: () => '127.0.0.1' } as NodeLease;
    router = new Router(factory, lease, new EventRecorder(store, keys, clock, config, log), keys, clock, config, log, new AppEndpoints(informers, keys, clock));
  });
  after(async () => {
    await router.stop();
    backends.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('routes a web service\'s names to its endpoints, with the domain of router/config', async () => {
    const a = await backends.start('A');
    await store.put(keys.routerConfig, JSON.stringify({ domain: 'apps.test' }));
    await store.put(keys.route('shop', 'front'), routes({ image: 'x', services: { www: { port: 80, role: 'web', hosts: ['shop.example.com'] } } }));
    await store.put(keys.serviceEndpoint('shop', 'www', keys.endpointId('front', 0, 'h1')), JSON.stringify(endpoint('127.0.0.1', a, { app: 'shop', name: 'front' })));
    await router.start();
    for (const host of ['shop.apps.test', 'www.shop.apps.test', 'Shop.Example.com:80']) {
      assert.deepEqual(await eventually(`${host} served`, async () => ((await get(httpPort, host)).status === 200 ? get(httpPort, host) : undefined)), { status: 200, body: `A xff=127.0.0.1 proto=http host=${host}` });
    }
    assert.equal((await get(httpPort, 'shop.dokkaa.local')).status, 404, 'the default domain is not routed while another is set');
  });

  it('reloads only when the config changed', async () => {
    await eventually('the first config applied', async () => (said('router config applied').length === 1 ? true : undefined));
    const applied = said('router config applied').length;
    await store.put(keys.manifest('other', 'db'), JSON.stringify({ image: 'x', services: { db: 5432 } }));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(said('router config applied').length, applied, 'a manifest itself changes nothing: the router serves routes/');
    await store.delete(keys.serviceEndpoint('shop', 'www', keys.endpointId('front', 0, 'h1')));
    await eventually('503 without endpoints', async () => ((await get(httpPort, 'shop.apps.test')).status === 503 ? true : undefined));
    await eventually('one more config applied', async () => (said('router config applied').length === applied + 1 ? true : undefined));
  });

  it('serves good certificates by SNI and reports a bad one once, leaving it out', async () => {
    const b = await backends.start('B');
    await store.put(keys.serviceEndpoint('shop', 'www', keys.endpointId('front', 0, 'h1')), JSON.stringify(endpoint('127.0.0.1', b, { app: 'shop', name: 'front' })));
    const good = await serverCert(dir, ca, 'shop.example.com');
    const other = await serverCert(dir, ca, 'www.shop.apps.test');
    await store.put(keys.cert('shop.example.com'), JSON.stringify(good));
    // The certificate of one name with the key of another.
    await store.put(keys.cert('www.shop.apps.test'), JSON.stringify({ cert: other.cert, key: good.key }));
    const body = await eventually('HTTPS for shop.example.com', () => getWithHost(httpsPort, 'shop.example.com', { ca: ca.cert }));
    assert.equal(body.status, 200);
    assert.match(body.body, /^B xff=127.0.0.1 proto=https host=shop.example.com/);
    const bad = said('certificate not served');
    assert.equal(bad.length, 1);
    assert.equal(bad[0]!.host, 'www.shop.apps.test');
    assert.match(String(bad[0]!.problem), /key does not match/);
    const events = await eventually('a Warning event', async () => {
      const kvs = (await store.list(keys.events)).kvs.filter((kv) => keys.parseEvent(kv.key)?.name === 'front');
      return kvs.length ? kvs.map((kv) => JSON.parse(kv.value) as { type: string; reason: string; message: string }) : undefined;
    });
    assert.deepEqual(events.map((e) => [e.type, e.reason]), [['Warning', 'BadCertificate']]);
    // Another change re-renders: the bad certificate is not reported again.
    await store.put(keys.manifest('other', 'db'), JSON.stringify({ image: 'x', services: { db: 5433 } }));
    await store.put(keys.serviceEndpoint('shop', 'www', keys.endpointId('front', 1, 'h1')), JSON.stringify(endpoint('127.0.0.1', await backends.start('B1'), { app: 'shop', name: 'front', replica: 1 })));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(said('certificate not served').length, 1);
  });

  it('redirects HTTP to HTTPS for a service that asks, on the names a certificate covers', async () => {
    await store.put(keys.route('shop', 'front'), routes({ image: 'x', services: { www: { port: 80, role: 'web', hosts: ['shop.example.com'], httpsRedirect: true } } }, 2));
    const redirected = await eventually('a redirect', async () => {
      const r = await get(httpPort, 'shop.example.com');
      return r.status === 308 ? r : undefined;
    });
    assert.equal(redirected.status, 308);
    // No certificate is served for shop.apps.test (its record is bad): plain HTTP there.
    assert.equal((await get(httpPort, 'shop.apps.test')).status, 200);
    assert.equal((await getWithHost(httpsPort, 'shop.example.com', { ca: ca.cert })).status, 200);
  });

  it('stops haproxy with the router', async () => {
    await router.stop();
    await assert.rejects(get(httpPort, 'shop.apps.test'));
  });

  it('keeps trying while its port is taken, and serves once it is free', async () => {
    const blocker = createTcpServer();
    await new Promise<void>((resolve) => blocker.listen(httpPort, '127.0.0.1', resolve));
    const failed = said('router config not applied').length;
    await router.start();
    try {
      await eventually('a failed apply reported', async () => (said('router config not applied').length > failed ? true : undefined));
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    const r = await eventually('served once the port is free', async () => {
      const a = await get(httpPort, 'shop.apps.test');
      return a.status === 200 ? a : undefined;
    });
    assert.match(r.body, /^B/);
  });
});
