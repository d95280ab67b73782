import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, MaintenanceRecord } from '../../api/records.js';
import { waitFor } from '../e2e/support/world.js';
import { once, steadyLoad } from './support/http-load.js';
import { useLab, type LabWorld } from './support/lab-world.js';

const LAB = 'lplace';
const APP = 'place';
const GI = 2 ** 30;
const BIN = fileURLToPath(new URL('../../../bin/dokkaa.js', import.meta.url));

/** A busybox web server whose page is its container's hostname, routed as `<app>.dokkaa.local`. */
const web = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'],
  services: { web: { port: 80, role: 'web' } },
  ...extra,
});
const sleeper = (extra: Record<string, unknown> = {}) => ({ image: 'dokkaa/busybox', command: ['sleep', '36000'], ...extra });

/** The real CLI against the lab's etcd: exit code and output. */
async function dokkaa(w: LabWorld, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args, ...w.cliFlags()], { timeout: 300_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: `${e.stdout}${e.stderr}` };
  }
}

/** Placements of a manifest per node, e.g. {n1: 2, n3: 1}. */
async function perNode(w: LabWorld, name: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const p of await w.placements(APP, name)) counts[p.node] = (counts[p.node] ?? 0) + 1;
  return counts;
}

/** Waits until the manifest's status is Running with `n` replicas ready, and returns the placements per node. */
async function running(w: LabWorld, name: string, n: number, timeoutMs = 90_000): Promise<Record<string, number>> {
  await waitFor(`${name}: ${n} replicas running`, async () => {
    const st = await w.status(APP, name);
    return st?.phase === 'Running' && st.running === n && st.replicas.length === n ? true : undefined;
  }, timeoutMs, 250);
  return perNode(w, name);
}

async function remove(w: LabWorld, name: string): Promise<void> {
  await w.etcd.delete().key(w.keys.manifest(APP, name));
  await waitFor(`${name}: unplaced`, async () => ((await w.placements(APP, name)).length === 0 ? true : undefined), 60_000, 250);
}

const zoneOf: Record<string, string> = { n1: 'a', n2: 'b', n3: 'a', n4: 'b', n5: 'b' };

/**
 * Resources and placement across hosts of different sizes (issue 14): each agent reports
 * the size the lab gives it (--capacity-*, no reserve), and the scheduler places by the
 * reservations of `resources`, by strategy, spreadBy and maxPerNode, one per host in global
 * mode; drain and rebalance move replicas start-first with no failed request.
 */
describe('resources and placement on hosts of 1, 2 and 4 GiB', () => {
  const lab = useLab({
    name: LAB,
    ttlSeconds: 4,
    hosts: [
      { capacity: { memory: '1Gi', cpus: 1 }, labels: { zone: 'a' } },
      { capacity: { memory: '2Gi', cpus: 2 }, labels: { zone: 'b' } },
      { capacity: { memory: '4Gi', cpus: 2 }, labels: { zone: 'a' } },
    ],
  });

  it('puts 3 x 1Gi where each fits, and counts it in every node record', async () => {
    const w = lab();
    await w.putManifest(APP, 'fit', sleeper({ scale: 3, resources: { memory: '1Gi' } }));
    assert.deepEqual(await running(w, 'fit', 3), { n1: 1, n2: 1, n3: 1 });
    for (const n of ['n1', 'n2', 'n3']) {
      const r = await waitFor(`${n} counts its replica`, async () => {
        const rec = await w.nodeRecord(n);
        return rec?.allocated && rec.allocated.memoryBytes >= GI ? rec : undefined;
      }, 30_000, 250);
      assert.ok(r.allocated!.memoryBytes <= r.allocatable!.memoryBytes, `${n}: ${r.allocated!.memoryBytes} allocated of ${r.allocatable!.memoryBytes}`);
    }
    const nodes = await dokkaa(w, 'nodes', '--json');
    assert.equal(nodes.code, 0, nodes.out);
    const n1 = (JSON.parse(nodes.out) as { name: string; free: { memoryBytes: number } }[]).find((n) => n.name === 'n1');
    assert.equal(n1?.free.memoryBytes, 0, 'dokkaa nodes: n1 has no memory free');
    await remove(w, 'fit');
  });

  it('binpack fills one host before the next', async () => {
    const w = lab();
    await w.putManifest(APP, 'pack', sleeper({ scale: 6, resources: { memory: '256Mi' }, placement: { strategy: 'binpack' } }));
    assert.deepEqual(await running(w, 'pack', 6), { n1: 4, n2: 2 });
    await remove(w, 'pack');
  });

  it('spreadBy over 2 zones at scale 4 gives 2 + 2', async () => {
    const w = lab();
    await w.putManifest(APP, 'zones', sleeper({ scale: 4, placement: { spreadBy: 'zone' } }));
    const counts = await running(w, 'zones', 4);
    const byZone: Record<string, number> = {};
    for (const [n, c] of Object.entries(counts)) byZone[zoneOf[n]!] = (byZone[zoneOf[n]!] ?? 0) + c;
    assert.deepEqual(byZone, { a: 2, b: 2 });
    await remove(w, 'zones');
  });

  it('maxPerNode 1 at scale 4 on 3 hosts leaves one unschedulable, with the reason', async () => {
    const w = lab();
    await w.putManifest(APP, 'capped', sleeper({ scale: 4, placement: { maxPerNode: 1 } }));
    const st = await waitFor('3 running, 1 unschedulable', async () => {
      const s = await w.status(APP, 'capped');
      return s && s.running === 3 && s.replicas.some((r) => r.state === 'unscheduled') ? s : undefined;
    }, 90_000, 250);
    assert.deepEqual(await perNode(w, 'capped'), { n1: 1, n2: 1, n3: 1 });
    const row = st.replicas.find((r) => r.state === 'unscheduled')!;
    assert.match(row.message ?? '', /maxPerNode 1 reached on all 3 matching nodes/);
    await remove(w, 'capped');
  });

  it('keeps 5Gi unschedulable with the reason until a bigger host joins; global mode follows the join', async () => {
    const w = lab();
    await w.putManifest(APP, 'big', sleeper({ resources: { memory: '5Gi' } }));
    await w.putManifest(APP, 'everywhere', sleeper({ mode: 'global' }));
    const st = await waitFor('big is unschedulable with the reason', async () => {
      const s = await w.status(APP, 'big');
      return s?.replicas[0]?.state === 'unscheduled' && /insufficient memory/.test(s.replicas[0].message ?? '') ? s : undefined;
    }, 60_000, 250);
    assert.match(st.replicas[0]!.message!, /insufficient memory: needs 5Gi, most free on any matching node 4Gi \(n3\)/);
    assert.deepEqual(await running(w, 'everywhere', 3), { n1: 1, n2: 1, n3: 1 });

    await w.addHost({ capacity: { memory: '8Gi', cpus: 2 }, labels: { zone: 'b' } });
    assert.deepEqual(await running(w, 'big', 1), { n4: 1 });
    assert.deepEqual(await running(w, 'everywhere', 4), { n1: 1, n2: 1, n3: 1, n4: 1 });
    await remove(w, 'big');
    await remove(w, 'everywhere');
  });

  it('drains a host under steady HTTP load: every replica moves off start-first, 0 failed requests, the host ends empty and cordoned', async () => {
    const w = lab();
    await w.putManifest(APP, 'site', web({ scale: 4 }));
    const before = await running(w, 'site', 4);
    assert.deepEqual(before, { n1: 1, n2: 1, n3: 1, n4: 1 });
    const host = `${APP}.dokkaa.local`;
    const address = w.node('n1').address;
    // Served through n1's router from all 4 (its haproxy has them), before the load starts.
    await waitFor('the router on n1 serves the site from 4 replicas', async () => ((await w.endpoints(APP, 'web')).length === 4 ? true : undefined), 30_000, 250);
    await waitFor('n1 answers 200 ten times in a row', async () => {
      for (let i = 0; i < 10; i++) if ((await once(address, host)) !== 200) return undefined;
      return true;
    }, 30_000, 250);
    const load = steadyLoad(address, host);
    await new Promise((r) => setTimeout(r, 1_000));

    const drained = await dokkaa(w, 'drain', 'n2', '--timeout', '180');
    await waitFor('4 replicas running again', async () => ((await w.status(APP, 'site'))?.running === 4 ? true : undefined), 60_000, 250);
    await new Promise((r) => setTimeout(r, 1_000));
    const { sent, failed } = await load.stop();
    console.log(`drain under load: ${sent} requests, ${failed.length} failed`);
    assert.equal(drained.code, 0, drained.out);
    assert.match(drained.out, /n2 drained/);
    assert.ok(sent > 100, `a steady load (${sent} requests)`);
    assert.deepEqual(failed, []);
    assert.equal((await perNode(w, 'site')).n2, undefined, 'nothing of site placed on n2');
    // The placement goes first; its container stops after the drain period and the grace.
    await waitFor('no site container runs on n2', async () => ((await w.containersOn('n2', APP, 'site')).some((c) => c.running) ? undefined : true), 30_000, 250);
    const held = decodeRecord(MaintenanceRecord, (await w.etcd.get(w.keys.nodeMaintenance('n2')).string()) ?? undefined);
    assert.equal(held?.cordoned, true);
    const nodes = await dokkaa(w, 'nodes');
    assert.match(nodes.out, /n2 .*(cordoned|draining)/);
  });

  it('rebalances after a host joins, start-first, with 0 failed requests', async () => {
    const w = lab();
    // After the drain, one of n1, n3, n4 holds two of site's four replicas.
    const skewed = await perNode(w, 'site');
    assert.equal(Math.max(...Object.values(skewed)), 2, JSON.stringify(skewed));
    await w.addHost({ capacity: { memory: '2Gi', cpus: 1 }, labels: { zone: 'b' } });
    assert.deepEqual(await perNode(w, 'site'), skewed, 'a joining host moves nothing by itself');

    const dry = await dokkaa(w, 'rebalance', `${APP}/site`, '--dry-run');
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /-> n5/);
    assert.deepEqual(await perNode(w, 'site'), skewed, '--dry-run moves nothing');

    const load = steadyLoad(w.node('n1').address, `${APP}.dokkaa.local`);
    await new Promise((r) => setTimeout(r, 1_000));
    const done = await dokkaa(w, 'rebalance', `${APP}/site`, '--timeout', '180');
    await new Promise((r) => setTimeout(r, 1_000));
    const { sent, failed } = await load.stop();
    console.log(`rebalance under load: ${sent} requests, ${failed.length} failed`);
    assert.equal(done.code, 0, done.out);
    assert.ok(sent > 100, `a steady load (${sent} requests)`);
    assert.deepEqual(failed, []);
    const after = await running(w, 'site', 4);
    assert.equal(Math.max(...Object.values(after)), 1, `even: ${JSON.stringify(after)}`);
    assert.equal(after.n5, 1);
    assert.equal(after.n2, undefined, 'the cordoned host gets nothing');
  });
});
