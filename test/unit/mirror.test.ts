import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyMirror, planMirror } from '../../src/controller/mirror.js';
import type { KvStore, TxnCondition, TxnOp } from '../../src/etcd/kv-store.js';
import type { Cached } from '../../src/informer/shared-informer.js';
import { createLogger } from '../../src/logging.js';
import { FakeKvStore } from './fake-kv-store.js';

const log = createLogger('error', true);

/** The fake store, counting the operations of each transaction. */
function counted(store: FakeKvStore): { store: KvStore; txns: number[] } {
  const txns: number[] = [];
  const proxy = Object.create(store) as KvStore;
  proxy.txn = (conditions: TxnCondition[], ops: TxnOp[]) => {
    txns.push(ops.length);
    return store.txn(conditions, ops);
  };
  return { store: proxy, txns };
}

describe('planMirror', () => {
  const have = (key: string, text: string, modRevision: number, lease = '0'): Cached<{ text: string }> => ({ key, value: { text }, modRevision, createRevision: modRevision, lease });

  it('puts what is missing, changed or on a lease, deletes what is not desired, and leaves the rest', () => {
    const plan = planMirror(new Map([['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']]), [have('a', '1', 5), have('b', 'old', 6), have('c', '3', 7, '42'), have('z', '9', 8)]);
    assert.deepEqual(plan, { puts: [{ key: 'b', value: '2', modRevision: 6 }, { key: 'c', value: '3', modRevision: 7 }, { key: 'd', value: '4', modRevision: 0 }], deletes: [{ key: 'z', modRevision: 8 }] });
  });
});

describe('applyMirror', () => {
  it('writes a burst in transactions of at most 128 operations, not a write per record', async () => {
    const fake = new FakeKvStore();
    const { store, txns } = counted(fake);
    const puts = Array.from({ length: 300 }, (_, i) => ({ key: `/m/${String(i).padStart(3, '0')}`, value: `${i}`, modRevision: 0 }));
    await applyMirror(store, { puts, deletes: [] }, log, 'record');
    assert.deepEqual(txns, [128, 128, 44]);
    assert.equal((await fake.list('/m/')).kvs.length, 300);
  });

  it('changes only records unchanged since read: one changed fails its transaction, and the reconcile with it', async () => {
    const fake = new FakeKvStore();
    await fake.put('/m/a', '1');
    await fake.put('/m/b', '1');
    const a = (await fake.get('/m/a'))!.modRevision;
    const b = (await fake.get('/m/b'))!.modRevision;
    await fake.put('/m/b', '2');
    await assert.rejects(applyMirror(fake, { puts: [], deletes: [{ key: '/m/a', modRevision: a }, { key: '/m/b', modRevision: b }] }, log, 'record'), /changed meanwhile/);
    assert.equal((await fake.get('/m/a'))?.value, '1', 'nothing of the failed transaction applied');
    await applyMirror(fake, { puts: [], deletes: [{ key: '/m/a', modRevision: a }] }, log, 'record');
    assert.equal(await fake.get('/m/a'), undefined);
    await assert.rejects(applyMirror(fake, { puts: [{ key: '/m/b', value: '3', modRevision: b }], deletes: [] }, log, 'record'), /changed meanwhile/, 'a put over a record changed since read');
    await assert.rejects(applyMirror(fake, { puts: [{ key: '/m/b', value: '3', modRevision: 0 }], deletes: [] }, log, 'record'), /changed meanwhile/, 'a put of a new record that exists meanwhile');
    assert.equal((await fake.get('/m/b'))?.value, '2');
  });
});
