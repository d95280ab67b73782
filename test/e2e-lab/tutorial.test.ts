import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { decodeRecord, PortRecord } from '../../api/records.js';
import { crawlerManifest, NGINX_PAGE, nginxManifest, waitFor } from '../e2e/support/world.js';
import { type Container, useSharedLab } from './support/lab-world.js';

const LAB = 'ltutor';
const TTL = 4;

function occurrences(text: string, what: string): number {
  return text.split(what).length - 1;
}

/**
 * Links go through the consumer host's ambassador: SERVICE_NGINX_ADDR is the Docker bridge
 * gateway of the crawler's own host (where its agent's ambassador listens) and
 * SERVICE_NGINX_PORT the port allocated to the service; the ambassador forwards to wherever
 * the service's endpoints are (`services/`, at the serving host's address). So when nginx
 * moves host, the endpoint moves and the crawler, unchanged, follows.
 */
describe("the article's tutorial across hosts", () => {
  const lab = useSharedLab({ name: LAB, nodes: 3, ttlSeconds: TTL });

  it('a crawler on n2 fetches nginx on n1 through its link, and follows nginx to n3', async () => {
    const w = lab();
    const app = 'dummy';
    const n1 = w.node('n1').address;
    const n3 = w.node('n3').address;
    assert.match(n1, /^10\.77\.\d+\.11$/);
    // The address of docker0 inside n2's network namespace: where n2's containers reach n2.
    const docker0 = JSON.parse(execFileSync('ip', ['-j', '-4', '-n', w.node('n2').netns, 'addr', 'show', 'dev', 'docker0'], { encoding: 'utf8' })) as { addr_info: { local: string }[] }[];
    const n2Gateway = docker0[0]?.addr_info[0]?.local;
    assert.ok(n2Gateway, "n2's docker0 has an address");

    await w.putManifest(app, 'nginx', nginxManifest({ constraints: { 'node.name': 'n1' } }));
    await w.putManifest(app, 'crawler', crawlerManifest({ constraints: { 'node.name': 'n2' } }));

    /** The one running container of a manifest, on `node`; none elsewhere, not even stopped. */
    const only = async (name: string, node: string): Promise<Container | undefined> => {
      const all = [...(await w.containers(app, name, { all: true })).values()].flat();
      return all.length === 1 && all[0]!.node === node && all[0]!.running ? all[0] : undefined;
    };

    const nginx1 = await waitFor('nginx running on n1 only', () => only('nginx', 'n1'), 60_000, 250);
    assert.ok(nginx1.port80, 'nginx publishes port 80 on a host port');
    const crawler = await waitFor('crawler running on n2 only', () => only('crawler', 'n2'), 60_000, 250);

    // nginx's endpoint is n1's address and nginx's published port.
    const ep1 = await waitFor('one nginx endpoint', async () => {
      const eps = await w.endpoints(app, 'nginx');
      return eps.length === 1 ? eps[0] : undefined;
    }, 30_000, 250);
    assert.equal(ep1.node, 'n1');
    assert.equal(ep1.host, n1, "the endpoint is at n1's address");
    assert.equal(ep1.port, nginx1.port80);
    assert.equal(ep1.containerId, nginx1.id);

    // The crawler's link: its own host's ambassador, at the port allocated to the service.
    const port = decodeRecord(PortRecord, await w.etcd.get(w.keys.port(app, 'nginx')).string());
    assert.ok(port, 'a link port is allocated to dummy/nginx');
    const env = await w.env('n2', crawler.id);
    assert.equal(env.SERVICE_NGINX_ADDR, n2Gateway, "SERVICE_NGINX_ADDR is n2's ambassador (its bridge gateway)");
    assert.equal(env.SERVICE_NGINX_PORT, String(port.port));

    // The crawler on n2 really gets nginx's page from n1, across the lab network.
    await waitFor('crawler logs show the nginx page', async () => (await w.logs('n2', crawler.id)).includes(NGINX_PAGE), 30_000, 250);
    await waitFor('both Running', async () => (await w.status(app, 'nginx'))?.phase === 'Running' && (await w.status(app, 'crawler'))?.phase === 'Running', 30_000, 250);

    // nginx moves to n3.
    await w.putManifest(app, 'nginx', nginxManifest({ constraints: { 'node.name': 'n3' } }));
    const nginx3 = await waitFor('nginx running on n3 only (gone from n1, not even stopped)', () => only('nginx', 'n3'), 60_000, 250);
    const ep3 = await waitFor("nginx's endpoint moved to n3", async () => {
      const eps = await w.endpoints(app, 'nginx');
      return eps.length === 1 && eps[0]!.node === 'n3' ? eps[0] : undefined;
    }, 30_000, 250);
    assert.equal(ep3.host, n3, "the endpoint is at n3's address");
    assert.equal(ep3.port, nginx3.port80);
    assert.equal(ep3.containerId, nginx3.id);

    // The crawler follows without being replaced, and gets the page again: only n3 serves it now.
    const pagesAtMove = occurrences(await w.logs('n2', crawler.id), NGINX_PAGE);
    await waitFor('the crawler logs the page again, from nginx on n3', async () => occurrences(await w.logs('n2', crawler.id), NGINX_PAGE) >= pagesAtMove + 2, 30_000, 250);
    assert.equal((await only('nginx', 'n3'))?.id, nginx3.id, 'the only nginx is still the one on n3');
    const crawlerNow = await only('crawler', 'n2');
    assert.equal(crawlerNow?.id, crawler.id, 'the same crawler container');
    assert.deepEqual(await w.env('n2', crawler.id), env, 'with the same link env');
    await waitFor('both Running after the move', async () => (await w.status(app, 'nginx'))?.phase === 'Running' && (await w.status(app, 'crawler'))?.phase === 'Running', 30_000, 250);
  });
});
