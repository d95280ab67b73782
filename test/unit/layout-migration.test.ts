import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { migratedKey } from '../../api/layout-migration.js';
import type { EventRecord } from '../../api/records.js';
import { LayoutMigratorReconciler } from '../../controllers/migrator/layout-migrator-reconciler.js';
import { createLogger } from '../../src/logging.js';
import { endpoint, placement, replica, spec } from './builders.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/d');
const rec = JSON.stringify(replica(placement(spec({ image: 'x' }), 2, 'h2', { app: 'shop', name: 'web' })));
const ep = JSON.stringify(endpoint('10.0.0.2', 32768, { node: 'h2', app: 'shop', name: 'web', replica: 2 }));
const event: EventRecord = { time: '2026-11-30T04:00:00.000Z', type: 'Normal', reason: 'Started', message: 'm', source: 'h2' };

describe('the old layout mapped to the per-node one', () => {
  it('puts a replica record under the node its record names', () => {
    assert.equal(migratedKey(keys, '/d/replicas/shop/web/2', rec), '/d/node-replicas/h2/shop/web/2');
  });

  it('puts an endpoint under the node its record names, keeping the endpoint id', () => {
    assert.equal(migratedKey(keys, '/d/services/shop/www/web.2.h2', ep), '/d/node-endpoints/h2/shop/www/web.2.h2');
  });

  it('puts an event under the process that wrote it', () => {
    assert.equal(migratedKey(keys, '/d/events/shop/web/001795543106240-h2-7', JSON.stringify(event)), '/d/node-events/h2/shop/web/001795543106240-h2-7');
  });

  it('moves the node of a pre-pull answer from the last segment to the first', () => {
    assert.equal(migratedKey(keys, '/d/prepulled/shop/web/h2', '{}'), '/d/node-prepulled/h2/shop/web');
  });

  it('leaves alone what it cannot place: undecodable records, other sections, keys already in the new layout', () => {
    assert.equal(migratedKey(keys, '/d/replicas/shop/web/2', 'not json'), undefined);
    assert.equal(migratedKey(keys, '/d/services/shop/www/x', '{"host":1}'), undefined);
    assert.equal(migratedKey(keys, '/d/apps/shop/web/manifest', '{}'), undefined);
    assert.equal(migratedKey(keys, keys.replica('h2', 'shop', 'web', 2), rec), undefined);
    assert.equal(migratedKey(keys, '/d/replicas/shop/web/2/extra', rec), undefined);
  });
});

describe('the layout migrator reconciler', () => {
  const log = createLogger('error', true);

  it('moves a key, deletes the old one, and lets the new layout win where both exist', async () => {
    const store = new FakeKvStore();
    const m = new LayoutMigratorReconciler(store, keys);
    await store.put('/d/replicas/shop/web/2', rec);
    await m.reconcile('/d/replicas/shop/web/2', log);
    assert.equal(await store.get('/d/replicas/shop/web/2'), undefined);
    assert.equal((await store.get(keys.replica('h2', 'shop', 'web', 2)))?.value, rec);

    const newer = JSON.stringify({ ...JSON.parse(rec), restarts: 5 });
    await store.put(keys.replica('h2', 'shop', 'web', 2), newer);
    await store.put('/d/replicas/shop/web/2', rec);
    await m.reconcile('/d/replicas/shop/web/2', log);
    assert.equal(await store.get('/d/replicas/shop/web/2'), undefined);
    assert.equal((await store.get(keys.replica('h2', 'shop', 'web', 2)))?.value, newer);
  });

  it('leaves an old key it cannot place where it is', async () => {
    const store = new FakeKvStore();
    await store.put('/d/replicas/shop/web/2', 'garbage');
    await new LayoutMigratorReconciler(store, keys).reconcile('/d/replicas/shop/web/2', log);
    assert.equal((await store.get('/d/replicas/shop/web/2'))?.value, 'garbage');
  });
});
