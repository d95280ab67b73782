import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeManifest } from '../../api/manifest.js';
import { planRoutes } from '../../controllers/route-publisher/routes-plan.js';
import type { ManifestEntry, Rollout } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';

const web = (host: string) => JSON.stringify({ image: 'x', services: { www: { port: 80, role: 'web', hosts: [host] } } });
const manifest = (text: string, createRevision = 3): Cached<ManifestEntry> => ({ key: '/d/apps/shop/front/manifest', value: { app: 'shop', name: 'front', result: decodeManifest(text, 'shop', 'front'), text }, modRevision: 9, createRevision, lease: '0' });
const rollout = (target?: { manifest: string; revision: number }): Rollout =>
  ({ phase: 'Complete', targetHash: 'h', targetRevision: target?.revision ?? 0, message: '', updated: 1, ready: 1, total: 1, startedAt: '', at: { app: 'shop', name: 'front' }, ...(target ? { target: { templateHash: 'h', ...target } } : {}) }) as Rollout;

describe('planRoutes (the route publisher)', () => {
  it('publishes the version the rollout targets, with the manifest key\'s create revision', () => {
    assert.deepEqual(planRoutes('shop', 'front', manifest(web('b.example.com')), rollout({ manifest: web('a.example.com'), revision: 5 })), {
      kind: 'put',
      record: { manifest: web('a.example.com'), revision: 5, createRevision: 3 },
    });
  });

  it('keeps what was published while no version was admitted (a forbidden first version publishes nothing)', () => {
    assert.deepEqual(planRoutes('shop', 'front', manifest(web('a.example.com')), undefined), { kind: 'keep' });
    assert.deepEqual(planRoutes('shop', 'front', manifest(web('a.example.com')), rollout()), { kind: 'keep' });
  });

  it('withdraws the routes of a gone manifest, and of an admitted version with no web service', () => {
    assert.deepEqual(planRoutes('shop', 'front', undefined, rollout({ manifest: web('a.example.com'), revision: 5 })), { kind: 'delete' });
    assert.deepEqual(planRoutes('shop', 'front', manifest(web('a')), rollout({ manifest: JSON.stringify({ image: 'x', services: { db: 5432 } }), revision: 6 })), { kind: 'delete' });
  });
});
