import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, EndpointRecord, LinkRecord, PortRecord } from '../../api/records.js';
import { useDokkaa } from './support/dokkaa.js';
import { crawlerManifest, NGINX_PAGE, nginxManifest, waitFor } from './support/world.js';

describe("the article's tutorial on real etcd and Docker", () => {
  const { world } = useDokkaa();

  it('runs nginx and a crawler that fetches its page through SERVICE_NGINX_ADDR/PORT', async () => {
    // The article's app is "dummy"; a suffix keeps container names apart from other runs on this engine.
    const app = `dummy-${world.id}`;
    // Raw etcd puts, as the article did with curl.
    await world.putManifest(app, 'nginx', nginxManifest({ scale: 1 }));
    await world.putManifest(app, 'crawler', crawlerManifest({ scale: 1 }));

    const nginx = await waitFor('nginx Running', async () => (await world.status(app, 'nginx'))?.phase === 'Running');
    assert.ok(nginx);
    await waitFor('crawler Running', async () => (await world.status(app, 'crawler'))?.phase === 'Running');

    const [nginxC] = await world.running(app, 'nginx');
    const [crawlerC] = await world.running(app, 'crawler');
    assert.ok(nginxC && crawlerC);
    assert.equal(nginxC.Names[0], `/${app}---nginx---0`);
    assert.equal(crawlerC.Names[0], `/${app}---crawler---0`);

    // The env the original injected, plus the link env.
    const nginxEnv = await world.env(nginxC.Id);
    assert.equal(nginxEnv.DOKKAA_APP_NAME, app);
    assert.equal(nginxEnv.DOKKAA_SERVICE_NGINX, '80');
    const crawlerEnv = await world.env(crawlerC.Id);
    const published = nginxC.Ports.find((p) => p.PrivatePort === 80)?.PublicPort;
    assert.ok(published, 'nginx port 80 is published on a host port');
    // The link goes through this host's ambassador, on the port allocated to dummy/nginx.
    const allocated = decodeRecord(PortRecord, await world.etcd.get(world.keys.port(app, 'nginx')).string())!;
    assert.equal(crawlerEnv.SERVICE_NGINX_PORT, String(allocated.port));
    assert.match(crawlerEnv.SERVICE_NGINX_ADDR!, /^\d+\.\d+\.\d+\.\d+$/);

    // The crawler really reaches nginx.
    await waitFor('crawler logs show the nginx page', async () => (await world.logs(crawlerC.Id)).includes(NGINX_PAGE));

    // The status keys say so, per replica.
    const crawlerStatus = (await world.status(app, 'crawler'))!;
    assert.equal(crawlerStatus.running, 1);
    assert.equal(crawlerStatus.desired, 1);
    assert.equal(crawlerStatus.replicas[0]!.containerId, crawlerC.Id);
    assert.equal(crawlerStatus.replicas[0]!.node, world.node);
    const nginxStatus = (await world.status(app, 'nginx'))!;
    assert.equal(nginxStatus.replicas[0]!.ports.nginx, published);

    // The endpoint and the link resolution are in etcd.
    const endpoints = await world.endpointValues(app, 'nginx');
    const eps = Object.values(endpoints).map((v) => decodeRecord(EndpointRecord, v)!);
    assert.equal(eps.length, 1);
    assert.equal(eps[0]!.port, published);
    assert.equal(eps[0]!.containerId, nginxC.Id);
    const link = decodeRecord(LinkRecord, await world.etcd.get(world.keys.link(app, 'crawler')).string())!;
    assert.deepEqual(link.missing, []);
    assert.equal(link.links.NGINX!.port, allocated.port);
  });
});

describe('a link with no endpoint yet', () => {
  const { world } = useDokkaa();

  it('keeps the consumer Pending, naming the missing service, then starts it once the service appears', async () => {
    const app = `links-${world.id}`;
    await world.putManifest(app, 'crawler', crawlerManifest());
    const pending = await waitFor('crawler Pending naming nginx', async () => {
      const s = await world.status(app, 'crawler');
      return s?.phase === 'Pending' && s.message.includes(`${app}/nginx`) ? s : undefined;
    });
    assert.equal(pending.running, 0);
    assert.equal((await world.containers(app, 'crawler')).length, 0, 'no container starts before its link resolves');

    await world.putManifest(app, 'nginx', nginxManifest());
    await waitFor('crawler Running', async () => (await world.status(app, 'crawler'))?.phase === 'Running');
    const [crawler] = await world.running(app, 'crawler');
    await waitFor('crawler reaches nginx', async () => (await world.logs(crawler!.Id)).includes(NGINX_PAGE));
  });
});
