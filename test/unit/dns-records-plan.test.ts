import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SkyDnsKeys } from '../../api/keys.js';
import { planDnsRecords } from '../../controllers/dns-records/dns-records-plan.js';
import type { DnsRecord, Endpoint } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';

const skydns = new SkyDnsKeys('/sky');
let revision = 0;
const cached = <T>(key: string, value: T, lease = '0'): Cached<T> => ({ key, value, modRevision: ++revision, createRevision: revision, lease });
const endpoint = (service: string, name: string, replica: number, node: string, port: number, app = 'shop'): Cached<Endpoint> =>
  cached(`/d/node-endpoints/${node}/${app}/${service}/${name}.${replica}.${node}`, { host: '10.0.0.5', port, protocol: 'tcp', node, app, name, replica, containerId: 'c', at: { node, app, service, endpoint: `${name}.${replica}.${node}` } }, '7');
const record = (service: string, label: string, text: string, lease = '0', app = 'shop'): Cached<DnsRecord> => cached(skydns.endpoint(app, service, label), { at: { app, service, label }, text }, lease);

describe('planDnsRecords', () => {
  it('mirrors each endpoint of the service as {"host", "port"} under <prefix>/local/dokkaa/<app>/<service>/<label>, on no lease', () => {
    const plan = planDnsRecords(skydns, 'shop', 'web', [endpoint('web', 'front', 0, 'vm', 32768), endpoint('web', 'front', 1, 'n.2', 32769)], []);
    assert.deepEqual(plan, {
      puts: [
        { key: '/sky/local/dokkaa/shop/web/front-0-vm', value: '{"host":"10.0.0.5","port":32768}', modRevision: 0 },
        // A node name that is not a DNS label gets a hashed label, as the DNS server answers.
        { key: `/sky/local/dokkaa/shop/web/${plan.puts[1]!.key.split('/').pop()}`, value: '{"host":"10.0.0.5","port":32769}', modRevision: 0 },
      ],
      deletes: [],
    });
    assert.match(plan.puts[1]!.key, /\/front-1-n-2-[0-9a-f]{8}$/);
  });

  it('leaves a matching record alone, rewrites a changed or undecodable one, and deletes one with no endpoint', () => {
    const same = record('web', 'front-0-vm', '{"host":"10.0.0.5","port":32768}');
    const changed = record('web', 'front-1-vm', '{"host":"10.0.0.5","port":1}');
    const garbage = record('web', 'front-2-vm', 'not json');
    const stale = record('web', 'gone-0-vm', '{"host":"10.0.0.9","port":2}');
    const plan = planDnsRecords(skydns, 'shop', 'web', [endpoint('web', 'front', 0, 'vm', 32768), endpoint('web', 'front', 1, 'vm', 32769), endpoint('web', 'front', 2, 'vm', 32770)], [same, changed, garbage, stale]);
    assert.deepEqual(plan.deletes, [{ key: stale.key, modRevision: stale.modRevision }]);
    assert.deepEqual(plan.puts.map((p) => p.key), [changed.key, garbage.key]);
  });

  it('takes a record an older agent wrote on its lease off that lease (the host could not revoke it otherwise)', () => {
    const onLease = record('web', 'front-0-vm', '{"host":"10.0.0.5","port":32768}', '7');
    assert.deepEqual(planDnsRecords(skydns, 'shop', 'web', [endpoint('web', 'front', 0, 'vm', 32768)], [onLease]).puts, [{ key: onLease.key, value: '{"host":"10.0.0.5","port":32768}', modRevision: onLease.modRevision }]);
  });

  it('touches only the service asked for', () => {
    const other = record('metrics', 'front-0-vm', '{"host":"10.0.0.5","port":9}');
    const otherApp = record('web', 'front-0-vm', '{"host":"10.0.0.5","port":9}', '0', 'blog');
    const plan = planDnsRecords(skydns, 'shop', 'web', [endpoint('metrics', 'front', 0, 'vm', 9), endpoint('web', 'front', 0, 'vm', 9, 'blog')], [other, otherApp]);
    assert.deepEqual(plan, { puts: [], deletes: [] });
  });
});
