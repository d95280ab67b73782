import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { endpointDnsLabel } from '../../api/dns-names.js';
import { serviceId, SkyDnsKeys } from '../../api/keys.js';
import { answerQuery, appOfQuery, type DnsDirectory, type DnsEndpoint } from '../../controllers/ambassador/dns-answers.js';
import { DnsResponder, resolvConfServers } from '../../controllers/ambassador/dns-responder.js';

const table: Record<string, DnsEndpoint[]> = {
  'shop/nginx': [
    { label: 'nginx-0-h1', host: '10.0.0.1', port: 32768 },
    { label: 'nginx-1-h1', host: '10.0.0.1', port: 32769 },
    { label: 'nginx-2-h2', host: '10.0.0.2', port: 32768 },
  ],
};
const dir: DnsDirectory = {
  endpoints: (app, service) => table[serviceId(app, service)] ?? [],
  hasApp: (app) => Object.keys(table).some((k) => k.startsWith(`${app}/`)),
};

function query(name: string, type: dnsPacket.RecordType | 'ANY', id = 42, rd = true): dnsPacket.DecodedPacket {
  return dnsPacket.decode(dnsPacket.encode({ type: 'query', id, flags: rd ? dnsPacket.RECURSION_DESIRED : 0, questions: [{ type: type as dnsPacket.RecordType, name }] }));
}

function ask(name: string, type: dnsPacket.RecordType | 'ANY', maxSize?: number) {
  const out = answerQuery(query(name, type), dir, maxSize);
  return out && (dnsPacket.decode(out) as dnsPacket.DecodedPacket & { rcode: string });
}

describe('endpointDnsLabel and SkyDnsKeys', () => {
  it('makes one DNS label per endpoint, hashing when it had to change the name', () => {
    assert.equal(endpointDnsLabel('nginx', 0, 'vm'), 'nginx-0-vm');
    const dotted = endpointDnsLabel('nginx', 2, 'Host.Example');
    assert.match(dotted, /^nginx-2-host-example-[0-9a-f]{8}$/);
    assert.notEqual(dotted, endpointDnsLabel('nginx', 2, 'host-example'));
    assert.ok(endpointDnsLabel('n'.repeat(63), 0, 'vm').length <= 63);
  });

  it('lays records out as SkyDNS does: labels reversed under the prefix', () => {
    const k = new SkyDnsKeys('/skydns/');
    assert.equal(k.endpoint('shop', 'nginx', 'nginx-0-vm'), '/skydns/local/dokkaa/shop/nginx/nginx-0-vm');
    assert.equal(k.app('shop'), '/skydns/local/dokkaa/shop/');
  });
});

describe('appOfQuery', () => {
  it('is the label before dokkaa.local of a name in the domain, any case, and nothing for the apex or another domain', () => {
    assert.equal(appOfQuery(query('nginx.shop.dokkaa.local', 'A')), 'shop');
    assert.equal(appOfQuery(query('X.Nginx.SHOP.dokkaa.local.', 'SRV')), 'shop');
    assert.equal(appOfQuery(query('shop.dokkaa.local', 'A')), 'shop');
    assert.equal(appOfQuery(query('dokkaa.local', 'SOA')), undefined);
    assert.equal(appOfQuery(query('shop.example.com', 'A')), undefined);
    assert.equal(appOfQuery(query('x.sh/op.dokkaa.local', 'A')), undefined, 'not a key segment');
  });
});

describe('answerQuery', () => {
  it('answers A for a service with each endpoint host once, authoritatively, echoing id and RD', () => {
    const r = ask('nginx.shop.dokkaa.local', 'A')!;
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.id, 42);
    assert.equal(r.flag_aa, true);
    assert.equal(r.flag_rd, true);
    assert.deepEqual(r.answers!.map((a) => [a.type, a.name, a.type === 'A' && a.data]), [
      ['A', 'nginx.shop.dokkaa.local', '10.0.0.1'],
      ['A', 'nginx.shop.dokkaa.local', '10.0.0.2'],
    ]);
  });

  it('answers SRV with every endpoint, its port and target, and the targets\' A records as additionals', () => {
    const r = ask('nginx.shop.dokkaa.local', 'SRV')!;
    assert.deepEqual(
      r.answers!.map((a) => a.type === 'SRV' && a.data),
      [
        { priority: 10, weight: 10, port: 32768, target: 'nginx-0-h1.nginx.shop.dokkaa.local' },
        { priority: 10, weight: 10, port: 32769, target: 'nginx-1-h1.nginx.shop.dokkaa.local' },
        { priority: 10, weight: 10, port: 32768, target: 'nginx-2-h2.nginx.shop.dokkaa.local' },
      ],
    );
    assert.deepEqual(r.additionals!.map((a) => [a.name, a.type === 'A' && a.data]), [
      ['nginx-0-h1.nginx.shop.dokkaa.local', '10.0.0.1'],
      ['nginx-1-h1.nginx.shop.dokkaa.local', '10.0.0.1'],
      ['nginx-2-h2.nginx.shop.dokkaa.local', '10.0.0.2'],
    ]);
  });

  it('answers for one endpoint by its own name, case-insensitively', () => {
    const r = ask('NGINX-2-H2.nginx.shop.dokkaa.local.', 'A')!;
    assert.deepEqual(r.answers!.map((a) => a.type === 'A' && a.data), ['10.0.0.2']);
  });

  it('says NXDOMAIN (with the SOA) for unknown names in the domain, NODATA for known names without the type', () => {
    for (const name of ['db.shop.dokkaa.local', 'nginx.other.dokkaa.local', 'x.nginx.shop.dokkaa.local', 'a.b.c.d.dokkaa.local', 'nope.dokkaa.local']) {
      const r = ask(name, 'A')!;
      assert.equal(r.rcode, 'NXDOMAIN', name);
      assert.equal(r.authorities![0]!.type, 'SOA');
    }
    for (const [name, type] of [['nginx.shop.dokkaa.local', 'AAAA'], ['shop.dokkaa.local', 'A'], ['dokkaa.local', 'A']] as const) {
      const r = ask(name, type)!;
      assert.equal(r.rcode, 'NOERROR', name);
      assert.deepEqual(r.answers, []);
    }
    assert.equal(ask('dokkaa.local', 'SOA')!.answers![0]!.type, 'SOA');
  });

  it('leaves names outside the domain to the caller', () => {
    assert.equal(answerQuery(query('example.com', 'A'), dir), undefined);
    assert.equal(answerQuery(query('notdokkaa.local', 'A'), dir), undefined);
  });

  it('cuts an answer too large for UDP and flags it truncated', () => {
    const many: DnsEndpoint[] = Array.from({ length: 40 }, (_, i) => ({ label: `web-${i}-host-number-${i}`, host: `10.0.1.${i}`, port: 30000 + i }));
    const big: DnsDirectory = { endpoints: () => many, hasApp: () => true };
    const out = answerQuery(query('web.shop.dokkaa.local', 'SRV'), big, 512)!;
    assert.ok(out.length <= 512);
    const r = dnsPacket.decode(out);
    assert.equal(r.flag_tc, true);
    const full = dnsPacket.decode(answerQuery(query('web.shop.dokkaa.local', 'SRV'), big, 65535)!);
    assert.equal(full.answers!.length, 40);
    assert.equal(full.flag_tc, false);
  });
});

describe('DnsResponder (real sockets on loopback)', () => {
  const responders: DnsResponder[] = [];
  after(async () => {
    for (const r of responders) await r.close();
  });

  async function start(upstreams: string[], upstreamTimeoutMs = 300): Promise<number> {
    const r = new DnsResponder(dir, { upstreams, upstreamTimeoutMs });
    responders.push(r);
    return r.listen('127.0.0.1', 0);
  }

  function udpAsk(port: number, name: string, type: dnsPacket.RecordType, id = 7): Promise<dnsPacket.DecodedPacket & { rcode: string }> {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      const timer = setTimeout(() => (s.close(), reject(new Error('no answer'))), 2000);
      s.on('message', (m) => {
        clearTimeout(timer);
        s.close();
        resolve(dnsPacket.decode(m) as dnsPacket.DecodedPacket & { rcode: string });
      });
      s.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }), port, '127.0.0.1');
    });
  }

  it('answers over UDP and over TCP', async () => {
    const port = await start([]);
    assert.equal((await udpAsk(port, 'nginx.shop.dokkaa.local', 'SRV')).answers!.length, 3);
    const r = await new Promise<dnsPacket.Packet>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' });
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          s.destroy();
          resolve(dnsPacket.streamDecode(buf));
        }
      });
      s.on('error', reject);
      s.write(dnsPacket.streamEncode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'nginx.shop.dokkaa.local' }] }));
    });
    assert.equal(r.id, 9);
    assert.equal(r.answers!.length, 2);
  });

  it('has the directory prepare the app of a name in the domain before answering, and no other name', async () => {
    const prepared: string[] = [];
    const lazy: DnsDirectory = {
      // The directory knows the app only once prepared, as the agent's DNS server watches an app from its first lookup.
      prepare: async (app) => void prepared.push(app),
      endpoints: (app, service) => (prepared.includes(app) ? dir.endpoints(app, service) : []),
      hasApp: (app) => prepared.includes(app) && dir.hasApp(app),
    };
    const r = new DnsResponder(lazy, { upstreams: [] });
    responders.push(r);
    const port = await r.listen('127.0.0.1', 0);
    assert.equal((await udpAsk(port, 'nginx.shop.dokkaa.local', 'SRV')).answers!.length, 3);
    assert.equal((await udpAsk(port, 'nginx-0-h1.nginx.Shop.dokkaa.local.', 'A')).answers!.length, 1);
    assert.equal((await udpAsk(port, 'example.com', 'A')).rcode, 'REFUSED');
    assert.deepEqual(prepared, ['shop', 'shop']);
  });

  it('refuses other names without upstreams', async () => {
    const port = await start([]);
    assert.equal((await udpAsk(port, 'example.com', 'A')).rcode, 'REFUSED');
  });

  it('forwards other names to an upstream and relays its answer; SERVFAIL when none answers', async () => {
    const upstream = createSocket('udp4');
    upstream.on('message', (m, rinfo) => {
      const q = dnsPacket.decode(m);
      upstream.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.7' }] }), rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    after(() => upstream.close());
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    after(() => silent.close());

    const port = await start([`127.0.0.1:${silent.address().port}`, `127.0.0.1:${upstream.address().port}`]);
    const r = await udpAsk(port, 'example.com', 'A', 1234);
    assert.equal(r.id, 1234);
    assert.deepEqual(r.answers!.map((a) => a.type === 'A' && a.data), ['192.0.2.7'], 'the second upstream answered after the first timed out');

    const lonely = await start([`127.0.0.1:${silent.address().port}`]);
    assert.equal((await udpAsk(lonely, 'example.com', 'A')).rcode, 'SERVFAIL');
  });

  it('reads upstreams from resolv.conf, IPv4 only, leaving out its own address', () => {
    const conf = '# generated\nnameserver 10.255.255.53\nnameserver 172.17.0.1\nnameserver ::1\nsearch example.com\n';
    assert.deepEqual(resolvConfServers(conf, ['172.17.0.1']), ['10.255.255.53']);
  });
});
