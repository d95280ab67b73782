import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { SkyDnsKeys } from '../../api/keys.js';
import { decodeRecord, EndpointRecord, LinkRecord, PortRecord, SkyDnsRecord } from '../../api/records.js';
import { bridgeGatewayOf, type BridgeInspect } from '../../src/docker/dockerode-engine.js';
import { InProcessDokkaa } from './support/dokkaa.js';
import { dockerExec } from './support/exec.js';
import { waitFor, World } from './support/world.js';

/** nginx stand-in whose page is its container's hostname (the short container id). */
const whoami = (scale: number) => ({
  image: 'dokkaa/busybox',
  command: ['sh', '-c', 'hostname > /www/index.html; exec httpd -f -p 80 -h /www'],
  services: { nginx: 80 },
  scale,
});

/** A crawler that fetches through its link five times a second and logs each page. */
const crawler = (link: string) => ({
  image: 'dokkaa/busybox',
  command: ['sh', '-c', 'while true; do wget -qO- http://$SERVICE_NGINX_ADDR:$SERVICE_NGINX_PORT/ 2>&1; sleep 0.2; done'],
  links: [link],
});

describe('links through the ambassador, on real etcd and Docker', () => {
  const world = new World();
  const app = `amb-${world.id}`;
  const other = `other-${world.id}`;
  const skydns = new SkyDnsKeys(`${world.prefix}/skydns`);
  const windowStart = 20000 + Math.floor(Math.random() * 40) * 100;
  let dokkaa: InProcessDokkaa;
  let gateway: string;
  let linkPort: number;
  let crawlerId: string;
  let crawlerEnv: Record<string, string>;

  before(async () => {
    // The product's own rule: a never restarted engine reports no Gateway (the suite's is new each run).
    gateway = bridgeGatewayOf((await world.docker.getNetwork('bridge').inspect()) as BridgeInspect)!;
    assert.ok(gateway, 'the bridge has an address');
    // A window of its own in the default range, so that a run beside another does not share ports.
    dokkaa = await InProcessDokkaa.start(world.config({ skydnsPrefix: skydns.root, linkPorts: { min: windowStart, max: windowStart + 99 }, dnsPort: 53 }));
  });
  after(async () => {
    await dokkaa?.stop();
    await world.cleanup();
  });

  const nginxIds = async () => (await world.running(app, 'nginx')).map((c) => c.Id.slice(0, 12));
  const crawlerLog = async () => world.logs(crawlerId);
  /** The crawler's container is the same one, with the same env. */
  const crawlerUnchanged = async () => {
    const [c] = await world.running(app, 'crawler');
    assert.equal(c?.Id, crawlerId, 'the crawler container was not replaced');
    assert.deepEqual(await world.env(crawlerId), crawlerEnv);
  };
  const endpoints = async () => world.endpointKeys(app, 'nginx');

  it('gives a consumer its host\'s ambassador and an allocated port, through which it reaches the service', async () => {
    await world.putManifest(app, 'nginx', whoami(1));
    await world.putManifest(app, 'crawler', crawler('nginx'));
    await waitFor('crawler Running', async () => (await world.status(app, 'crawler'))?.phase === 'Running');
    const port = decodeRecord(PortRecord, await world.etcd.get(world.keys.port(app, 'nginx')).string())!;
    linkPort = port.port;
    assert.equal(port.protocol, 'tcp');
    assert.equal(linkPort, windowStart, 'the first port of the range');
    assert.equal(await world.etcd.get(world.keys.portAlloc(linkPort)).string(), `${app}/nginx`);

    const [c] = await world.running(app, 'crawler');
    crawlerId = c!.Id;
    crawlerEnv = await world.env(crawlerId);
    assert.equal(crawlerEnv.SERVICE_NGINX_ADDR, gateway);
    assert.equal(crawlerEnv.SERVICE_NGINX_PORT, String(linkPort));
    const link = decodeRecord(LinkRecord, await world.etcd.get(world.keys.link(app, 'crawler')).string())!;
    assert.deepEqual(link.links, { NGINX: { app, service: 'nginx', port: linkPort, protocol: 'tcp' } });

    const [nginx] = await nginxIds();
    await waitFor('the crawler gets nginx\'s page', async () => (await crawlerLog()).includes(nginx!));
    // Only where containers reach it: the host's other addresses do not answer on the link port.
    assert.equal(await tryConnect(gateway, linkPort), 'connected');
    assert.equal(await tryConnect('127.0.0.1', linkPort), 'ECONNREFUSED');
  });

  it('spreads requests over every replica', async () => {
    await world.putManifest(app, 'nginx', whoami(3));
    await waitFor('nginx 3/3', async () => (await world.status(app, 'nginx'))?.running === 3, 60_000);
    await waitFor('3 endpoints', async () => (await endpoints()).length === 3);
    const ids = await nginxIds();
    assert.equal(ids.length, 3);
    await waitFor('the crawler got pages from all 3 replicas', async () => {
      const log = await crawlerLog();
      return ids.every((id) => log.includes(id));
    });
    await crawlerUnchanged();
  });

  it('answers DNS A and SRV for the service, inside containers and on the gateway, and writes SkyDNS records', async () => {
    const eps = await world.endpointValues(app, 'nginx');
    const ports = Object.values(eps).map((v) => decodeRecord(EndpointRecord, v)!.port).sort();
    assert.equal(ports.length, 3);

    // From the test process, with dns-packet, to the agent's server on the bridge gateway.
    const srv = await queryDns(gateway, `nginx.${app}.dokkaa.local`, 'SRV');
    // Port 53 on the gateway is one per machine: another Dokkaa running here would answer instead.
    assert.equal(srv.rcode, 'NOERROR', `no answer for this test's services from ${gateway}:53: is another Dokkaa agent running on this machine?`);
    assert.deepEqual(srv.answers!.map((a) => (a.type === 'SRV' ? a.data.port : 0)).sort(), ports);
    assert.equal(srv.additionals!.filter((x) => x.type === 'A').length, 3);
    const a = await queryDns(gateway, `nginx.${app}.dokkaa.local`, 'A');
    assert.deepEqual(a.answers!.map((x) => x.type === 'A' && x.data), [gateway], 'one host here: the node address');
    assert.equal((await queryDns(gateway, `db.${app}.dokkaa.local`, 'A')).rcode, 'NXDOMAIN');

    // From inside the crawler, whose resolver is the agent's server.
    const inside = await dockerExec(world.docker, crawlerId, ['nslookup', '-type=SRV', `nginx.${app}.dokkaa.local`]);
    assert.equal(inside.exitCode, 0, inside.output);
    for (const p of ports) assert.match(inside.output, new RegExp(`10 10 ${p} `), inside.output);
    const short = await dockerExec(world.docker, crawlerId, ['nslookup', 'nginx']);
    assert.match(short.output, new RegExp(`Name:\\s+nginx\\.${app}\\.dokkaa\\.local\\s+Address:\\s+${gateway.replace(/\./g, '\\.')}`), short.output);

    const records = await world.etcd.getAll().prefix(skydns.service(app, 'nginx')).strings();
    assert.equal(Object.keys(records).length, 3);
    assert.deepEqual(Object.values(records).map((v) => decodeRecord(SkyDnsRecord, v)!.port).sort(), ports);
    for (const v of Object.values(records)) assert.deepEqual(Object.keys(JSON.parse(v) as object).sort(), ['host', 'port']);
  });

  it('keeps the consumer untouched while its service\'s containers are removed from outside', async () => {
    const before = await nginxIds();
    for (const c of await world.running(app, 'nginx')) await world.docker.getContainer(c.Id).remove({ force: true });
    const fresh = await waitFor('3 new nginx containers', async () => {
      const ids = await nginxIds();
      return ids.length === 3 && ids.every((id) => !before.includes(id)) ? ids : undefined;
    }, 60_000);
    await waitFor('the crawler reaches the new replicas', async () => {
      const log = await crawlerLog();
      return fresh.every((id) => log.includes(id));
    });
    await crawlerUnchanged();
  });

  it('refuses connections at once while the service has no endpoint, and reaches it again when it is back', async () => {
    const before = await nginxIds();
    await world.putManifest(app, 'nginx', whoami(0));
    await waitFor('no nginx endpoints', async () => (await endpoints()).length === 0, 60_000);
    const refused = await dockerExec(world.docker, crawlerId, ['sh', '-c', 'wget -qO- http://$SERVICE_NGINX_ADDR:$SERVICE_NGINX_PORT/']);
    assert.notEqual(refused.exitCode, 0, refused.output);
    assert.ok(refused.ms < 2_000, `refused after ${refused.ms} ms`);
    const nc = await dockerExec(world.docker, crawlerId, ['sh', '-c', 'echo | nc $SERVICE_NGINX_ADDR $SERVICE_NGINX_PORT; echo "rc=$?"']);
    assert.ok(nc.ms < 2_000, `nc ended after ${nc.ms} ms: ${nc.output}`);
    assert.equal((await world.status(app, 'crawler'))?.phase, 'Running', 'the crawler keeps running');
    await crawlerUnchanged();

    await world.putManifest(app, 'nginx', whoami(1));
    // A new container: one of the old ones may still be draining when the count first reads 1.
    const [back] = await waitFor('nginx back', async () => {
      const ids = await nginxIds();
      return ids.length === 1 && !before.includes(ids[0]!) ? ids : undefined;
    }, 60_000);
    await waitFor('the crawler reaches it again', async () => (await crawlerLog()).includes(back!)).catch(async (err: Error) => {
      const ps = await dockerExec(world.docker, crawlerId, ['ps', 'w']);
      const tail = (await crawlerLog()).split('\n').slice(-15).join('\n');
      throw new Error(`${err.message}\ncrawler processes:\n${ps.output}\ncrawler log tail:\n${tail}`);
    });
    await crawlerUnchanged();
  });

  it('links across apps: otherapp/nginx is SERVICE_NGINX_* on the same port', async () => {
    await world.putManifest(other, 'crawler', crawler(`${app}/nginx`));
    await waitFor('other crawler Running', async () => (await world.status(other, 'crawler'))?.phase === 'Running');
    const [c] = await world.running(other, 'crawler');
    const env = await world.env(c!.Id);
    assert.equal(env.SERVICE_NGINX_ADDR, gateway);
    assert.equal(env.SERVICE_NGINX_PORT, String(linkPort));
    const [nginx] = await nginxIds();
    await waitFor('the other app\'s crawler reaches nginx', async () => (await world.logs(c!.Id)).includes(nginx!));
  });

  it('releases the port, and the ambassador stops listening, once nothing links to the service', async () => {
    await world.deleteManifest(app, 'crawler');
    await world.deleteManifest(other, 'crawler');
    await waitFor('ports/ and portalloc/ released', async () =>
      !(await world.etcd.get(world.keys.port(app, 'nginx')).string()) && !(await world.etcd.get(world.keys.portAlloc(linkPort)).string()),
    );
    await waitFor('the link port refuses', async () => (await tryConnect(gateway, linkPort)) === 'ECONNREFUSED');
  });
});

function queryDns(server: string, name: string, type: dnsPacket.RecordType): Promise<dnsPacket.DecodedPacket & { rcode: string }> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no DNS answer from ${server} for ${name}`));
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(dnsPacket.decode(m) as dnsPacket.DecodedPacket & { rcode: string });
    });
    // With EDNS (4096-byte UDP answers), so that the SRV answer's additional A records fit.
    const opt: dnsPacket.Answer = { type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
    s.send(dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }], additionals: [opt] }), 53, server);
  });
}

function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
