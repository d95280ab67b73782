import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, PortRecord } from '../../api/records.js';
import { dockerExec } from '../e2e/support/exec.js';
import { waitFor } from '../e2e/support/world.js';
import { useSharedLab } from './support/lab-world.js';

const LAB = 'lhard';
const APP = 'hard';
const run = promisify(execFile);

/**
 * What a TCP connection from network namespace `netns` to host:port gets: `connected`, or
 * the error code (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT after 3 s).
 */
async function connectFrom(netns: string, host: string, port: number): Promise<string> {
  const script = `const s=require('net').connect({host:${JSON.stringify(host)},port:${port},timeout:3000});`
    + `s.on('connect',()=>{console.log('connected');s.destroy()});s.on('timeout',()=>{console.log('ETIMEDOUT');s.destroy()});s.on('error',(e)=>console.log(e.code||e.message))`;
  const { stdout } = await run('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { timeout: 15_000 });
  return stdout.trim();
}

/** Issue 16 item 5: link ports (and DNS) answer only where a host's containers reach them. */
describe('the ambassador listens only on the container bridge', () => {
  const lab = useSharedLab({ name: LAB, nodes: 2, ttlSeconds: 4 });

  it('refuses a link port to another host, while a container on the host reaches the service through it', async () => {
    const w = lab();
    await w.putManifest(APP, 'db', {
      image: 'dokkaa/busybox',
      command: ['sh', '-c', 'echo secret-page > /www/index.html; exec httpd -f -p 80 -h /www'],
      services: { db: 80 },
      constraints: { 'node.name': 'n1' },
    });
    await w.putManifest(APP, 'client', { image: 'dokkaa/busybox', command: ['sleep', '3600'], links: ['db'], constraints: { 'node.name': 'n1' } });
    const client = await waitFor('the client running on n1', async () => (await w.containersOn('n1', APP, 'client', false)).find((x) => x.running), 60_000, 250);
    const linkPort = (await waitFor('the link port', async () => decodeRecord(PortRecord, await w.etcd.get(w.keys.port(APP, 'db')).string()), 30_000, 250)).port;
    const [endpoint] = await waitFor('the db endpoint', async () => {
      const e = await w.endpoints(APP, 'db');
      return e.length === 1 ? e : undefined;
    }, 60_000, 250);

    const env = await w.env('n1', client.id);
    assert.equal(env.SERVICE_DB_PORT, String(linkPort));
    const page = await waitFor('the client gets the page through the ambassador', async () => {
      const r = await dockerExec(w.engine('n1'), client.id, ['sh', '-c', 'wget -qO- http://$SERVICE_DB_ADDR:$SERVICE_DB_PORT/']);
      return r.exitCode === 0 ? r.output : undefined;
    }, 30_000, 250);
    assert.equal(page.trim(), 'secret-page');

    const n1 = w.node('n1');
    const n2 = w.node('n2');
    // n2 reaches n1 (the service's published port, which endpoints are for) ...
    assert.equal(endpoint!.host, n1.address);
    assert.equal(await connectFrom(n2.netns, n1.address, endpoint!.port), 'connected');
    // ... but not n1's link port, nor its DNS server.
    assert.equal(await connectFrom(n2.netns, n1.address, linkPort), 'ECONNREFUSED');
    assert.equal(await connectFrom(n2.netns, n1.address, 53), 'ECONNREFUSED');
    // Nor does n1 itself on its node address: only the bridge gateway answers.
    assert.equal(await connectFrom(n1.netns, n1.address, linkPort), 'ECONNREFUSED');
    assert.equal(await connectFrom(n1.netns, env.SERVICE_DB_ADDR!, linkPort), 'connected');
  });
});
