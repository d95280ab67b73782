import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crawlerManifest, NGINX_PAGE, nginxManifest, waitFor } from '../e2e/support/world.js';
import { downByName, LabWorld, type Container } from './support/lab-world.js';

const LAB = 'ltutor';
const TTL = 4;

describe("the article's tutorial across hosts", () => {
  let lab: LabWorld | undefined;
  let failed = true;
  before(async () => {
    lab = await LabWorld.up({ name: LAB, nodes: 3, ttlSeconds: TTL });
  });
  after(async () => {
    if (lab) await lab.down(failed);
    else await downByName(LAB);
  });

  it('a crawler on n2 fetches nginx on n1 through SERVICE_NGINX_ADDR/PORT, and follows nginx to n3', async () => {
    const w = lab!;
    const app = 'dummy';
    const n1 = w.node('n1').address;
    const n3 = w.node('n3').address;
    assert.match(n1, /^10\.77\.\d+\.11$/);

    await w.putManifest(app, 'nginx', nginxManifest({ constraints: { 'node.name': 'n1' } }));
    await w.putManifest(app, 'crawler', crawlerManifest({ constraints: { 'node.name': 'n2' } }));

    /** The one running container of a manifest, wherever it runs; none elsewhere, not even stopped. */
    const only = async (name: string, node: string): Promise<Container | undefined> => {
      const byNode = await w.containers(app, name, { all: true });
      const all = [...byNode.values()].flat();
      return all.length === 1 && all[0]!.node === node && all[0]!.running ? all[0] : undefined;
    };

    const nginx1 = await waitFor('nginx running on n1 only', () => only('nginx', 'n1'), 60_000, 250);
    assert.ok(nginx1.port80, 'nginx publishes port 80 on a host port');
    const crawler1 = await waitFor('crawler running on n2 only, linked to nginx on n1', async () => {
      const c = await only('crawler', 'n2');
      return c && (await w.env('n2', c.id)).SERVICE_NGINX_ADDR === n1 ? c : undefined;
    }, 60_000, 250);
    const env1 = await w.env('n2', crawler1.id);
    assert.equal(env1.SERVICE_NGINX_ADDR, n1, "the crawler is given n1's address");
    assert.equal(env1.SERVICE_NGINX_PORT, String(nginx1.port80), "and nginx's published port");
    // The crawler on n2 really reaches nginx on n1, across the lab network.
    await waitFor('crawler logs show the nginx page', async () => (await w.logs('n2', crawler1.id)).includes(NGINX_PAGE), 30_000, 250);
    await waitFor('both Running', async () => (await w.status(app, 'nginx'))?.phase === 'Running' && (await w.status(app, 'crawler'))?.phase === 'Running', 30_000, 250);

    // nginx moves to n3: the crawler must follow it.
    await w.putManifest(app, 'nginx', nginxManifest({ constraints: { 'node.name': 'n3' } }));
    const nginx3 = await waitFor('nginx running on n3 only (gone from n1)', () => only('nginx', 'n3'), 60_000, 250);
    assert.ok(nginx3.port80);
    const crawler3 = await waitFor('crawler on n2 re-linked to nginx on n3', async () => {
      const c = await only('crawler', 'n2');
      return c && (await w.env('n2', c.id)).SERVICE_NGINX_ADDR === n3 ? c : undefined;
    }, 60_000, 250);
    assert.notEqual(crawler3.id, crawler1.id, 'a new crawler container, with the new link env');
    const env3 = await w.env('n2', crawler3.id);
    assert.equal(env3.SERVICE_NGINX_ADDR, n3, "the crawler is given n3's address");
    assert.equal(env3.SERVICE_NGINX_PORT, String(nginx3.port80));
    await waitFor('the new crawler logs show the nginx page, now from n3', async () => (await w.logs('n2', crawler3.id)).includes(NGINX_PAGE), 30_000, 250);

    // etcd agrees: one endpoint, on n3.
    const endpoints = await w.endpoints(app, 'nginx');
    assert.equal(endpoints.length, 1);
    assert.equal(endpoints[0]!.node, 'n3');
    assert.equal(endpoints[0]!.host, n3);
    assert.equal(endpoints[0]!.port, nginx3.port80);
    await waitFor('both Running after the move', async () => (await w.status(app, 'nginx'))?.phase === 'Running' && (await w.status(app, 'crawler'))?.phase === 'Running', 30_000, 250);
    failed = false;
  });
});
