import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { killNode } from '../../lab/index.js';
import { dockerExec } from '../e2e/support/exec.js';
import { waitFor } from '../e2e/support/world.js';
import { seconds, sleepMs, useLab } from './support/lab-world.js';

const LAB = 'llinks';
const TTL = 4;
const APP = 'links';

/** nginx stand-in whose page is its container's hostname (the short container id). */
const whoami = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: ['sh', '-c', 'hostname > /www/index.html; exec httpd -f -p 80 -h /www'],
  services: { nginx: 80 },
  ...extra,
});

/**
 * Fetches through its link five times a second, one request at a time, and logs each page
 * or FAIL (refused, reset, or no answer within 2 s): a log line per request.
 */
const crawler = {
  image: 'dokkaa/busybox',
  command: ['sh', '-c', 'while true; do timeout 2 wget -qO- http://$SERVICE_NGINX_ADDR:$SERVICE_NGINX_PORT/ 2>/dev/null || echo FAIL; sleep 0.2; done'],
  links: ['nginx'],
  constraints: { 'node.name': 'n2' },
};

const count = (text: string, what: string) => text.split(what).length - 1;
const short = (id: string) => id.slice(0, 12);

/**
 * The ambassador across hosts (issue 4's lab tests): a crawler on n2 reaches nginx wherever
 * its replicas run, through n2's ambassador, and keeps doing so while they die and move.
 */
describe('links across hosts: the ambassador follows the service', () => {
  const lab = useLab({ name: LAB, nodes: 3, ttlSeconds: TTL });
  let crawlerId = '';
  let crawlerEnv: Record<string, string> = {};
  const crawlerLog = () => lab().logs('n2', crawlerId);

  it('spreads a crawler\'s requests over nginx\'s 3 replicas, one on each host', async () => {
    const w = lab();
    await w.putManifest(APP, 'nginx', whoami({ scale: 3 }));
    await w.putManifest(APP, 'crawler', crawler);
    const eps = await waitFor('3 nginx endpoints, one per host', async () => {
      const e = await w.endpoints(APP, 'nginx');
      return e.length === 3 && new Set(e.map((x) => x.node)).size === 3 ? e : undefined;
    }, 60_000, 250);
    const c = await waitFor('the crawler running on n2', async () => (await w.containersOn('n2', APP, 'crawler', false)).find((x) => x.running), 60_000, 250);
    crawlerId = c.id;
    crawlerEnv = await w.env('n2', crawlerId);
    await waitFor('the crawler got pages from all 3 replicas', async () => {
      const log = await crawlerLog();
      return eps.every((e) => log.includes(short(e.containerId)));
    }, 30_000, 250);
  });

  it('answers SRV and A queries from inside the crawler with every endpoint on every host', async () => {
    const w = lab();
    const eps = await w.endpoints(APP, 'nginx');
    assert.equal(eps.length, 3);
    const name = `nginx.${APP}.dokkaa.local`;
    const srv = await dockerExec(w.engine('n2'), crawlerId, ['nslookup', '-type=SRV', name]);
    assert.equal(srv.exitCode, 0, srv.output);
    const ports = [...srv.output.matchAll(/service = 10 10 (\d+) \S+/g)].map((m) => Number(m[1])).sort();
    assert.deepEqual(ports, eps.map((e) => e.port).sort(), srv.output);
    const a = await dockerExec(w.engine('n2'), crawlerId, ['nslookup', name]);
    assert.equal(a.exitCode, 0, a.output);
    for (const n of w.nodeNames) assert.ok(a.output.includes(w.node(n).address), `${n}'s address ${w.node(n).address} in:\n${a.output}`);
  });

  it('moves 100 MB from n1 to a consumer on n2 through the ambassador, intact', async () => {
    const w = lab();
    await w.putManifest(APP, 'files', {
      image: 'dokkaa/busybox',
      command: ['sh', '-c', 'dd if=/dev/urandom of=/www/big bs=1M count=100 2>/dev/null; md5sum /www/big > /www/big.md5; exec httpd -f -p 80 -h /www'],
      services: { files: 80 },
      constraints: { 'node.name': 'n1' },
    });
    await w.putManifest(APP, 'fetcher', { image: 'dokkaa/busybox', command: ['sleep', '3600'], links: ['files'], constraints: { 'node.name': 'n2' } });
    const files = await waitFor('files running on n1', async () => (await w.containersOn('n1', APP, 'files', false)).find((x) => x.running), 60_000, 250);
    const fetcher = await waitFor('fetcher running on n2', async () => (await w.containersOn('n2', APP, 'fetcher', false)).find((x) => x.running), 60_000, 250);
    const want = await waitFor('the file is written', async () => {
      const r = await dockerExec(w.engine('n1'), files.id, ['cat', '/www/big.md5']);
      return r.exitCode === 0 ? r.output.split(' ')[0] : undefined;
    }, 60_000, 250);
    const got = await dockerExec(w.engine('n2'), fetcher.id, ['sh', '-c', 'wget -qO- http://$SERVICE_FILES_ADDR:$SERVICE_FILES_PORT/big | md5sum'], 120_000);
    assert.equal(got.exitCode, 0, got.output);
    assert.equal(got.output.split(' ')[0], want, `md5 of what arrived: ${got.output}`);
    console.log(`100 MB through the ambassador, n1 -> n2: ${(got.ms / 1000).toFixed(1)} s`);
    // The agent's ambassador moved it in the kernel (the splice pump), not by copying.
    const agentLog = await readFile(w.node('n2').agentLog, 'utf8');
    assert.match(agentLog, /"dataPath":"splice"/, 'n2\'s ambassador runs the splice pump');
    // ... set to put its sockets on CUBIC, and the kernel did not refuse (it warns on the first refusal).
    assert.match(agentLog, /"tcpCongestion":"cubic"/);
    assert.doesNotMatch(agentLog, /refused TCP congestion control/);
    await w.etcd.delete().key(w.keys.manifest(APP, 'fetcher'));
    await w.etcd.delete().key(w.keys.manifest(APP, 'files'));
  });

  it('loses at most the request in flight when an endpoint dies mid-traffic', async () => {
    const w = lab();
    const [victim] = await w.containersOn('n3', APP, 'nginx', false);
    assert.ok(victim?.running, 'an nginx replica runs on n3');
    const before = await crawlerLog();
    await w.engine('n3').getContainer(victim.id).kill();
    // Watch the crawler for 5 s: it goes on with the other replicas (one request at a time,
    // so at most one in flight to the victim), and nothing waits for Dokkaa to notice.
    await sleepMs(5_000);
    const since = (await crawlerLog()).slice(before.length);
    const pages = (since.match(/[0-9a-f]{12}/g) ?? []).length;
    assert.ok(count(since, 'FAIL') <= 1, `at most one failed request after the kill:\n${since}`);
    assert.ok(pages >= 5, `the crawler kept getting pages (${pages} in 5 s):\n${since}`);
  });

  it('follows nginx when its host dies: requests succeed again within TTL + 5 s, same crawler, same env', async () => {
    const w = lab();
    await w.putManifest(APP, 'nginx', whoami({ scale: 1, constraints: { 'node.name': '!n2' } }));
    const ep = await waitFor('one nginx endpoint, not on n2', async () => {
      const e = await w.endpoints(APP, 'nginx');
      return e.length === 1 && e[0]!.node !== 'n2' ? e[0] : undefined;
    }, 60_000, 250);
    const hostB = ep.node;
    const other = hostB === 'n1' ? 'n3' : 'n1';
    await waitFor('the crawler gets pages from the one replica', async () => (await crawlerLog()).trimEnd().endsWith(short(ep.containerId)), 30_000, 250);

    const killedAt = Date.now();
    await killNode(hostB, { name: LAB, say: w.say });
    const moved = await waitFor(`nginx's endpoint on ${other}`, async () => {
      const e = await w.endpoints(APP, 'nginx');
      return e.length === 1 && e[0]!.node === other ? e[0] : undefined;
    }, (TTL + 15) * 1000, 100);
    const back = await waitFor('the crawler gets a page from the moved nginx', async () => ((await crawlerLog()).includes(short(moved.containerId)) ? Date.now() : undefined), (TTL + 15) * 1000, 100);
    const ms = back - killedAt;
    console.log(`link follows a dead host: crawler served again ${seconds(ms)} s after the kill (TTL ${TTL} s)`);
    assert.ok(ms <= (TTL + 5) * 1000, `requests succeeded again after ${ms} ms; the bound is TTL + 5 s`);

    const crawlers = await w.containersOn('n2', APP, 'crawler', true);
    assert.deepEqual(crawlers.map((x) => [x.id, x.running]), [[crawlerId, true]], 'the same crawler container, running, and no other');
    assert.deepEqual(await w.env('n2', crawlerId), crawlerEnv, 'with the same link env');
  });
});
