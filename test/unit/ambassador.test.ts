import 'reflect-metadata';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { Keys } from '../../api/keys.js';
import type { EndpointRecord } from '../../api/records.js';
import { Ambassador, linkedApps } from '../../controllers/ambassador/ambassador.js';
import { hostCongestion } from '../../controllers/ambassador/congestion.js';
import { AppEndpoints } from '../../src/agent/app-endpoints.js';
import { SystemClock } from '../../src/clock.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { createLogger } from '../../src/logging.js';
import { FakeKvStore } from './fake-kv-store.js';
import { endpoint, placement, spec } from './builders.js';
import { freePort } from '../../src/net/free-port.js';

const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

async function named(name: string): Promise<number> {
  const s = createServer((c) => c.end(name));
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as { port: number }).port;
}


function get(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('end', () => resolve(text));
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function eventually(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** An ambassador on the fake store, without the host's placements: it watches the apps of every link port. */
function ambassadorOn(store: FakeKvStore, keys: Keys, config: ConstructorParameters<typeof Ambassador>[4], informers = new InformerFactory(store, new SystemClock(), createLogger('error', true))): Ambassador {
  const log = createLogger('error', true);
  return new Ambassador(new ControllerFactory(informers, new SystemClock(), log, { resyncSeconds: 30 }), keys, new SystemClock(), log, config, new AppEndpoints(informers, keys, new SystemClock()));
}

/** Where the endpoint index keeps one endpoint of `app/service` (replica 0 of `name` on h1). */
function indexed(keys: Keys, app: string, service: string, name: string): string {
  return keys.serviceEndpoint(app, service, keys.endpointId(name, 0, 'h1'));
}

describe('Ambassador (fake etcd, real sockets)', () => {
  it('listens on each allocated port, follows the endpoints, and closes the port when it is released', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const ambassador = ambassadorOn(store, keys, { splice: 'on' });
    const linkPort = await freePort();
    const ep = (name: string, port: number): string => JSON.stringify(endpoint('127.0.0.1', port, { app: 'shop', name }) satisfies EndpointRecord);

    await store.put(indexed(keys, 'shop', 'nginx', 'a'), ep('a', await named('a')));
    await store.put(keys.port('shop', 'nginx'), JSON.stringify({ port: linkPort, protocol: 'tcp' }));
    await ambassador.start();
    try {
      await eventually('the port forwards to a', async () => (await get(linkPort)) === 'a');

      await store.put(indexed(keys, 'shop', 'nginx', 'b'), ep('b', await named('b')));
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add(await get(linkPort));
      assert.deepEqual([...seen].sort(), ['a', 'b'], 'round-robin over both endpoints');

      await store.delete(indexed(keys, 'shop', 'nginx', 'a'));
      await store.delete(indexed(keys, 'shop', 'nginx', 'b'));
      assert.equal(await get(linkPort), 'ECONNRESET', 'no endpoint: reset');

      await store.delete(keys.port('shop', 'nginx'));
      await eventually('the port closes', async () => (await get(linkPort)) === 'ECONNREFUSED');
    } finally {
      await ambassador.stop();
    }
  });

  it('opens no listener when link listeners are off (hollow hosts), while following the ports', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const log = createLogger('error', true);
    const informers = new InformerFactory(store, new SystemClock(), log);
    const ambassador = ambassadorOn(store, keys, { splice: 'off', tcpCongestion: 'system', linkListeners: false }, informers);
    const linkPort = await freePort();
    await store.put(keys.port('shop', 'nginx'), JSON.stringify({ port: linkPort, protocol: 'tcp' }));
    await ambassador.start();
    try {
      const ports = informers.informer(Resources.ports(keys));
      await eventually('the port record is in the cache', async () => ports.hasSynced() && ports.list().length === 1);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await get(linkPort), 'ECONNREFUSED');
    } finally {
      await ambassador.stop();
    }
  });
  it('keeps trying a port that is in use until it is free', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const ambassador = ambassadorOn(store, keys, { splice: 'off' });
    const squatter = createServer((c) => c.end('squatter'));
    await new Promise<void>((resolve) => squatter.listen(0, '0.0.0.0', resolve));
    const linkPort = (squatter.address() as { port: number }).port;
    await store.put(indexed(keys, 'shop', 'db', 'a'), JSON.stringify(endpoint('127.0.0.1', await named('db'), { app: 'shop', name: 'a' })));
    await store.put(keys.port('shop', 'db'), JSON.stringify({ port: linkPort, protocol: 'tcp' }));
    await ambassador.start();
    try {
      assert.equal(await get(linkPort), 'squatter');
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
      // The first retry comes 1 s after the failure.
      for (let i = 0; i < 150 && (await get(linkPort)) !== 'db'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await get(linkPort), 'db');
    } finally {
      await ambassador.stop();
    }
  });

  it('puts its own sockets on the configured congestion control (--tcp-congestion), as ss shows them', async () => {
    const hostDefault = hostCongestion();
    const algorithm = hostDefault === 'reno' ? 'cubic' : 'reno';
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const ambassador = ambassadorOn(store, keys, { splice: 'on', tcpCongestion: algorithm });
    const held = createServer((c) => c.write('hello'));
    servers.push(held);
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    const endpointPort = (held.address() as { port: number }).port;
    const linkPort = await freePort();
    await store.put(indexed(keys, 'shop', 'db', 'a'), JSON.stringify(endpoint('127.0.0.1', endpointPort, { app: 'shop', name: 'a' })));
    await store.put(keys.port('shop', 'db'), JSON.stringify({ port: linkPort, protocol: 'tcp' }));
    await ambassador.start();
    try {
      // The port opens once the ambassador has seen it: until then, refused.
      const greeted = async () => {
        const c = connect({ port: linkPort, host: '127.0.0.1' });
        const [first] = await Promise.race([once(c, 'data'), once(c, 'error').then(() => [undefined])]);
        if (first === undefined) c.destroy();
        return first === undefined ? undefined : c;
      };
      let client = await greeted();
      for (let i = 0; i < 100 && !client; i++) client = await new Promise((r) => setTimeout(r, 20)).then(greeted);
      assert.ok(client, 'the link port forwards');
      // `ss -i` prints each socket's details, its congestion control among them, on the line after it.
      const sockets = async (filter: string) => {
        const { stdout } = await promisify(execFile)('ss', ['-tinH', 'state', 'established', filter]);
        const lines = stdout.split('\n');
        const cc = (info: string) => [algorithm, hostDefault].find((name) => info.trim().split(/\s+/).includes(name)) ?? `neither in: ${info}`;
        return lines.flatMap((l, i) => (/^\S/.test(l) ? [`${l.trim().split(/\s+/).slice(-2).join(' ')} ${cc(lines[i + 1] ?? '')}`] : []));
      };
      const here = `127.0.0.1:${client.localPort}`;
      const link = `127.0.0.1:${linkPort}`;
      assert.deepEqual((await sockets(`( sport = :${linkPort} or dport = :${linkPort} )`)).sort(), [`${here} ${link} ${hostDefault}`, `${link} ${here} ${algorithm}`].sort());
      const toEndpoint = await sockets(`( dport = :${endpointPort} )`);
      assert.equal(toEndpoint.length, 1);
      assert.ok(toEndpoint[0]!.endsWith(` 127.0.0.1:${endpointPort} ${algorithm}`), toEndpoint[0]);
      client.destroy();
    } finally {
      await ambassador.stop();
    }
  });

  it('with its host\'s placements, watches the endpoints of only the apps they link to', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const log = createLogger('error', true);
    const clock = new SystemClock();
    const informers = new InformerFactory(store, clock, log);
    const appEndpoints = new AppEndpoints(informers, keys, clock);
    const host = { placements: informers.informer(Resources.nodePlacements(keys, 'h1')) };
    const ambassador = new Ambassador(new ControllerFactory(informers, clock, log, { resyncSeconds: 30 }), keys, clock, log, { splice: 'off', linkListeners: false }, appEndpoints, undefined, host);
    const place = (name: string, links: string[]) =>
      store.put(keys.placement('h1', 'front', name, 0), JSON.stringify(placement(spec({ image: 'x', links }, 'front'), 0, 'h1', { app: 'front', name })));
    await store.put(keys.port('shop', 'db'), JSON.stringify({ port: await freePort(), protocol: 'tcp' }));
    await store.put(keys.port('blog', 'db'), JSON.stringify({ port: await freePort(), protocol: 'tcp' }));
    await place('web', ['shop/db']);
    await ambassador.start();
    try {
      await eventually('shop watched', async () => appEndpoints.heldApps().join() === 'shop');
      await place('api', ['blog/db']);
      await eventually('blog watched too', async () => appEndpoints.heldApps().join() === 'blog,shop');
      await store.delete(keys.placement('h1', 'front', 'web', 0));
      await eventually('shop let go', async () => appEndpoints.heldApps().join() === 'blog');
    } finally {
      await ambassador.stop();
    }
    assert.deepEqual(appEndpoints.heldApps(), [], 'nothing held once stopped');
  });
});

describe('linkedApps', () => {
  it('is the apps of the services the placements link to, once each, sorted', () => {
    const p = (links: string[]) => placement(spec({ image: 'x', links }), 0, 'h1');
    assert.deepEqual(linkedApps([p(['shop/db', 'blog/www']), p(['shop/cache']), p([])]), ['blog', 'shop']);
    assert.deepEqual(linkedApps([]), []);
  });
});
