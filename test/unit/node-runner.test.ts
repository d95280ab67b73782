import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextCrashCount, restartDelayMs, RESTART_MAX_MS, RESTART_RESET_AFTER_MS, shouldRestart } from '../../controllers/node-runner/restart-backoff.js';
import { containerDns, containerName, containerTemplate, LABEL } from '../../controllers/node-runner/container-template.js';
import { placement, spec } from './builders.js';

describe('restart backoff', () => {
  it('restarts per policy', () => {
    assert.equal(shouldRestart('always', 0), true);
    assert.equal(shouldRestart('always', 1), true);
    assert.equal(shouldRestart('on-failure', 0), false);
    assert.equal(shouldRestart('on-failure', 137), true);
    assert.equal(shouldRestart('never', 0), false);
    assert.equal(shouldRestart('never', 1), false);
  });

  it('waits nothing before the first crash, then 1 s doubling', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map(restartDelayMs), [0, 1000, 2000, 4000, 8000, 16000]);
    assert.equal(restartDelayMs(-1), 0);
  });

  it('caps the wait at 5 minutes', () => {
    assert.equal(restartDelayMs(9), 256_000);
    assert.equal(restartDelayMs(10), RESTART_MAX_MS);
    assert.equal(RESTART_MAX_MS, 300_000);
    assert.equal(restartDelayMs(1000), RESTART_MAX_MS);
  });

  it('counts a crash after a short run and starts over after 10 minutes', () => {
    assert.equal(nextCrashCount(0, 5), 1);
    assert.equal(nextCrashCount(3, RESTART_RESET_AFTER_MS - 1), 4);
    assert.equal(nextCrashCount(3, RESTART_RESET_AFTER_MS), 1);
    assert.equal(RESTART_RESET_AFTER_MS, 600_000);
  });
});

describe('containerTemplate', () => {
  const web = spec({
    image: 'dokkaa/crawler',
    command: ['/crawl.sh', '-v'],
    env: { FOO: 'bar', DOKKAA_APP_NAME: 'spoofed' },
    services: { 'my-web': 8080, metrics: { port: 9100, protocol: 'udp' } },
    links: ['db'],
  });
  const p = placement(web, 2, 'h1', { app: 'shop', name: 'crawler', revision: 11 });
  const links = { SERVICE_DB_ADDR: '10.0.0.9', SERVICE_DB_PORT: '32770' };

  it('names the container <app>---<name>---<replica>', () => {
    assert.equal(containerName('shop', 'crawler', 2), 'shop---crawler---2');
    assert.equal(containerTemplate(p, links, 'h1').name, 'shop---crawler---2');
  });

  it('runs the image and command of the spec', () => {
    const t = containerTemplate(p, links, 'h1');
    assert.equal(t.image, 'dokkaa/crawler:latest');
    assert.deepEqual(t.cmd, ['/crawl.sh', '-v']);
    const noCmd = containerTemplate(placement(spec({ image: 'x' }), 0, 'h1'), {}, 'h1');
    assert.equal('cmd' in noCmd, false, 'the image\'s own command runs');
  });

  it('sets the user env, the link env, DOKKAA_APP_NAME and DOKKAA_SERVICE_<SVC>, sorted', () => {
    const t = containerTemplate(p, links, 'h1');
    assert.deepEqual(t.env, [
      'DOKKAA_APP_NAME=shop',
      'DOKKAA_SERVICE_METRICS=9100',
      'DOKKAA_SERVICE_MY_WEB=8080',
      'FOO=bar',
      'SERVICE_DB_ADDR=10.0.0.9',
      'SERVICE_DB_PORT=32770',
    ]);
  });

  it('labels the container so a restarted agent can find it', () => {
    const t = containerTemplate(p, links, 'h1');
    assert.deepEqual(t.labels, {
      [LABEL.managed]: 'true',
      [LABEL.node]: 'h1',
      [LABEL.app]: 'shop',
      [LABEL.name]: 'crawler',
      [LABEL.replica]: '2',
      [LABEL.hash]: t.hash,
      [LABEL.revision]: '11',
      [LABEL.stopGrace]: '10',
    });
    assert.equal(LABEL.hash, 'dokkaa.spec-hash');
    assert.equal(containerTemplate(p, links, 'h1', undefined, '/prod').labels[LABEL.cluster], '/prod');
  });

  it('publishes every service port with its protocol', () => {
    assert.deepEqual(containerTemplate(p, links, 'h1').ports, [
      { port: 8080, protocol: 'tcp' },
      { port: 9100, protocol: 'udp' },
    ]);
  });

  it('hashes the same inputs the same', () => {
    assert.equal(containerTemplate(p, links, 'h1').hash, containerTemplate({ ...p }, { ...links }, 'h1').hash);
    assert.match(containerTemplate(p, links, 'h1').hash, /^[0-9a-f]{12}$/);
  });

  it('changes the hash when the env changes', () => {
    const other = spec({ ...JSON.parse(JSON.stringify({ image: 'dokkaa/crawler', command: ['/crawl.sh', '-v'], services: { 'my-web': 8080, metrics: { port: 9100, protocol: 'udp' } }, links: ['db'] })), env: { FOO: 'baz', DOKKAA_APP_NAME: 'spoofed' } });
    const h = containerTemplate(p, links, 'h1').hash;
    assert.notEqual(containerTemplate(placement(other, 2, 'h1', { app: 'shop', name: 'crawler', revision: 11 }), links, 'h1').hash, h);
  });

  it('changes the hash when a link address changes', () => {
    const h = containerTemplate(p, links, 'h1').hash;
    assert.notEqual(containerTemplate(p, { ...links, SERVICE_DB_PORT: '32771' }, 'h1').hash, h);
    assert.notEqual(containerTemplate(p, {}, 'h1').hash, h);
  });

  it('gives the container the host\'s resolver and the app\'s search domains, outside the hash', () => {
    const dns = containerDns('172.17.0.1', 'shop');
    assert.deepEqual(dns, { dns: ['172.17.0.1'], dnsSearch: ['shop.dokkaa.local', 'dokkaa.local'] });
    const t = containerTemplate(p, links, 'h1', dns);
    assert.deepEqual([t.dns, t.dnsSearch], [['172.17.0.1'], ['shop.dokkaa.local', 'dokkaa.local']]);
    assert.equal(t.hash, containerTemplate(p, links, 'h1').hash);
    assert.equal(containerDns(undefined, 'shop'), undefined, 'no DNS server on the host: the engine\'s default');
    assert.equal('dns' in containerTemplate(p, links, 'h1'), false);
  });

  it('keeps the hash across revisions, replicas and nodes with the same spec', () => {
    const h = containerTemplate(p, links, 'h1').hash;
    assert.equal(containerTemplate({ ...p, revision: 12 }, links, 'h1').hash, h);
    assert.equal(containerTemplate({ ...p, replica: 0, node: 'h2' }, links, 'h2').hash, h);
  });
});
