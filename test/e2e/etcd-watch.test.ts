import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { SystemClock } from '../../src/clock.js';
import { Etcd3KvStore } from '../../src/etcd/etcd3-kv-store.js';
import { SharedInformer, type InformerEvent } from '../../src/informer/shared-informer.js';
import { createLogger } from '../../src/logging.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { ETCD, etcdOptions, uid, waitFor } from './support/world.js';

/** The shared informer against real etcd, cut off by a proxy while the world changes. */
describe('shared informer across etcd disconnects and compaction', () => {
  const prefix = `/watch-${uid()}/`;
  const direct = new Etcd3(etcdOptions());
  let proxy: TcpProxy;
  let store: Etcd3KvStore;
  let informer: SharedInformer<string>;
  const events: InformerEvent<string>[] = [];
  const state = new Map<string, string>();

  before(async () => {
    const url = new URL(ETCD);
    proxy = await TcpProxy.start(url.hostname, Number(url.port));
    store = new Etcd3KvStore(etcdOptions(proxy.url));
    await direct.put(`${prefix}a`).value('1');
    await direct.put(`${prefix}b`).value('1');
    informer = new SharedInformer<string>(store, prefix, (kv) => ({ ok: true, value: kv.value }), {}, new SystemClock(), createLogger('error', true));
    informer.events.subscribe((ev) => {
      events.push(ev);
      if (ev.type === 'put') state.set(ev.key, ev.obj.value);
      else state.delete(ev.key);
    });
    informer.acquire();
  });
  after(async () => {
    await informer?.release();
    store.close();
    await proxy.close();
    await direct.delete().prefix(prefix);
    direct.close();
  });

  const etcdState = async () => new Map(Object.entries(await direct.getAll().prefix(prefix).strings()));
  const converged = async () => {
    const want = await etcdState();
    const cached = informer.list();
    return want.size === state.size && [...want].every(([k, v]) => state.get(k) === v) && cached.length === want.size && cached.every((c) => want.get(c.key) === c.value);
  };

  it('lists first, then streams changes', async () => {
    await waitFor('initial listing', async () => state.size === 2);
    assert.equal(informer.hasSynced(), true);
    await direct.put(`${prefix}c`).value('1');
    await waitFor('live put', async () => state.get(`${prefix}c`) === '1');
  });

  it('misses nothing written while disconnected', async () => {
    proxy.block();
    await direct.put(`${prefix}d`).value('1');
    await direct.delete().key(`${prefix}c`);
    await new Promise((r) => setTimeout(r, 500));
    proxy.unblock();
    await waitFor('caught up after reconnect', converged, 20_000);
    assert.equal(state.has(`${prefix}c`), false);
    assert.equal(state.get(`${prefix}d`), '1');
  });

  it('re-lists after compaction, emitting deletes for keys that vanished', async () => {
    proxy.block();
    events.length = 0;
    await direct.delete().key(`${prefix}a`);
    await direct.put(`${prefix}b`).value('2');
    await direct.put(`${prefix}e`).value('1');
    const { header } = await direct.getAll().prefix(prefix).exec();
    // Compact up to now: the watch cannot resume from the revision it last saw.
    await direct.kv.compact({ revision: header.revision, physical: true });
    proxy.unblock();
    await waitFor('caught up after compaction', converged, 20_000);
    assert.ok(events.some((e) => e.type === 'delete' && e.key === `${prefix}a`), 'a delete for the vanished key');
    assert.ok(events.some((e) => e.type === 'put' && e.key === `${prefix}b` && e.obj.value === '2'));
    assert.ok(events.some((e) => e.type === 'put' && e.key === `${prefix}e`));
    assert.ok(!events.some((e) => e.type === 'put' && e.key === `${prefix}d`), 'no event for an unchanged key');
  });
});
