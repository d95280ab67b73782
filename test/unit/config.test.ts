import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { BadValueError, loadConfig, REPEATABLE_SETTINGS, SETTINGS, type ConfigFlags, type SettingName } from '../../src/config.js';
import { parseCommandLine } from '../../cli/program.js';

/** The setting flags of a command line, as the CLI parses them (`agent` takes every setting). */
function flags(argv: string[], command = 'agent'): ConfigFlags {
  const invocation = parseCommandLine([command, ...argv], { out: () => undefined, err: () => undefined });
  assert.ok('flags' in invocation, `${command} has settings`);
  return invocation.flags;
}

describe('the flags of a command line', () => {
  it('reads --flag value, --flag=value, bare switches, -f and positionals', () => {
    const a = parseCommandLine(['apply', '--etcd', 'http://e:2379', '--prefix=/x', '-f', 'm.json']);
    assert.ok(a.command === 'apply');
    assert.deepEqual(a.flags, { etcd: 'http://e:2379', prefix: '/x' });
    assert.equal(a.options.file, 'm.json');
    const s = parseCommandLine(['status', 'shop', '--json']);
    assert.deepEqual(s, { command: 'status', flags: {}, target: 'shop', options: { json: true } });
  });

  it('keeps every value of a repeated flag, in order', () => {
    assert.deepEqual(flags(['--label', 'a=1', '--label=b=2']).label, ['a=1', 'b=2']);
  });

  it('refuses a flag followed by another flag where it needs a value, and unknown flags', () => {
    assert.throws(() => flags(['--node', '--etcd', 'http://e:2379']), { message: '--node: expected a value, got the flag --etcd' });
    assert.throws(() => flags(['--verbose', '--node', 'h1']), { code: 'commander.unknownOption' });
  });

  it('does not swallow a positional after a switch', () => {
    const s = parseCommandLine(['status', '--json', 'shop']);
    assert.ok(s.command === 'status');
    assert.equal(s.options.json, true);
    assert.equal(s.target, 'shop');
  });

  it('keeps an empty value and a value with "="', () => {
    const a = flags(['--address=', '--label=k=v=w']);
    assert.equal(a.address, '');
    assert.deepEqual(a.label, ['k=v=w']);
  });

  it('takes a negative number as a value', () => {
    assert.equal(flags(['--resync', '-1']).resync, '-1');
  });

  it('names each setting as loadConfig reads it', () => {
    const argv = Object.values(SETTINGS).flatMap((s) => [`--${s.flag}`, s.flag === 'label' ? 'k=v' : `value-of-${s.flag}`]);
    const given = flags(argv);
    for (const [name, s] of Object.entries(SETTINGS)) {
      const repeatable = REPEATABLE_SETTINGS.includes(name as SettingName);
      assert.deepEqual(given[name as SettingName], s.flag === 'label' ? ['k=v'] : repeatable ? [`value-of-${s.flag}`] : `value-of-${s.flag}`, `--${s.flag}`);
    }
  });
});

describe('loadConfig', () => {
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(flags(argv), env);

  it('has defaults', () => {
    assert.deepEqual(load([]), {
      etcd: ['http://127.0.0.1:2379'],
      prefix: '/dokkaa',
      docker: 'unix:///var/run/docker.sock',
      node: hostname(),
      address: '',
      labels: {},
      leaseTtlSeconds: 10,
      resyncSeconds: 30,
      logLevel: 'info',
      fence: true,
      linkPorts: { min: 20000, max: 29999 },
      skydnsPrefix: '/skydns',
      stateDir: '/var/lib/dokkaa/agent',
      secretsDir: '/run/dokkaa/secrets',
      routerDir: '/run/dokkaa/router',
      dnsPort: 53,
      splice: 'auto',
      tcpCongestion: 'cubic',
      routerHttpPort: 80,
      routerHttpsPort: 443,
      reserve: { cpus: 0, memoryBytes: 256 * 2 ** 20 },
    });
  });

  it('reads DOKKAA_* env vars', () => {
    const c = load([], {
      DOKKAA_ETCD: 'http://a:2379,http://b:2379',
      DOKKAA_PREFIX: '/p',
      DOKKAA_DOCKER: 'tcp://d:2375',
      DOKKAA_NODE: 'n1',
      DOKKAA_ADDRESS: '10.0.0.1',
      DOKKAA_LABELS: 'zone=east,ssd=true',
      DOKKAA_LEASE_TTL: '5',
      DOKKAA_RESYNC: '0.5',
      DOKKAA_LOG_LEVEL: 'debug',
    });
    assert.deepEqual(c, {
      etcd: ['http://a:2379', 'http://b:2379'],
      prefix: '/p',
      docker: 'tcp://d:2375',
      node: 'n1',
      address: '10.0.0.1',
      labels: { zone: 'east', ssd: 'true' },
      leaseTtlSeconds: 5,
      resyncSeconds: 0.5,
      logLevel: 'debug',
      fence: true,
      linkPorts: { min: 20000, max: 29999 },
      skydnsPrefix: '/skydns',
      stateDir: '/var/lib/dokkaa/agent',
      secretsDir: '/run/dokkaa/secrets',
      routerDir: '/run/dokkaa/router',
      dnsPort: 53,
      splice: 'auto',
      tcpCongestion: 'cubic',
      routerHttpPort: 80,
      routerHttpsPort: 443,
      reserve: { cpus: 0, memoryBytes: 256 * 2 ** 20 },
    });
  });

  it('reads the link port range, the SkyDNS prefix and the DNS settings', () => {
    const c = load(['--link-ports', '30000-30010', '--skydns-prefix', '/dns', '--dns-port', '0', '--dns-upstream', '10.0.0.2,10.0.0.3']);
    assert.deepEqual(c.linkPorts, { min: 30000, max: 30010 });
    assert.equal(c.skydnsPrefix, '/dns');
    assert.equal(c.dnsPort, 0);
    assert.deepEqual(c.dnsUpstream, ['10.0.0.2', '10.0.0.3']);
    assert.deepEqual(load([], { DOKKAA_LINK_PORTS: '1-2', DOKKAA_DNS_PORT: '5353' }).linkPorts, { min: 1, max: 2 });
    assert.throws(() => load(['--link-ports', '3-1']), { message: '--link-ports: expected MIN-MAX, got "3-1"' });
    assert.throws(() => load(['--link-ports', '20000']), { message: '--link-ports: expected MIN-MAX, got "20000"' });
    assert.throws(() => load(['--dns-port', '70000']), { message: '--dns-port: expected a port number (0: off), got "70000"' });
  });

  it('reads the web router\'s ports, 0 turning either off', () => {
    const c = load(['--router-http-port', '0', '--router-https-port', '8443']);
    assert.equal(c.routerHttpPort, 0);
    assert.equal(c.routerHttpsPort, 8443);
    assert.deepEqual([load([], { DOKKAA_ROUTER_HTTP_PORT: '8080', DOKKAA_ROUTER_HTTPS_PORT: '0' })].map((x) => [x.routerHttpPort, x.routerHttpsPort]), [[8080, 0]]);
    assert.throws(() => load(['--router-https-port', 'x']), { message: '--router-https-port: expected a port number (0: off), got "x"' });
  });

  it('reads how the ambassador moves bytes (--splice)', () => {
    assert.equal(load(['--splice', 'off']).splice, 'off');
    assert.equal(load([], { DOKKAA_SPLICE: 'on' }).splice, 'on');
    assert.throws(() => load(['--splice', 'yes']), { message: '--splice: expected auto | on | off, got "yes"' });
  });

  it("reads the ambassador's TCP congestion control (--tcp-congestion)", () => {
    assert.equal(load(['--tcp-congestion', 'reno']).tcpCongestion, 'reno');
    assert.equal(load([], { DOKKAA_TCP_CONGESTION: 'system' }).tcpCongestion, 'system');
    const expected = (got: string) => ({ message: `--tcp-congestion: expected an algorithm name (cubic, reno, bbr, ...) or system, got ${JSON.stringify(got)}` });
    assert.throws(() => load(['--tcp-congestion', 'Cubic']), expected('Cubic'));
    assert.throws(() => load(['--tcp-congestion', 'a-name-too-long-for-linux']), expected('a-name-too-long-for-linux'));
  });

  it("reads the host's reserve and capacity overrides, memory as manifests write it", () => {
    const c = load(['--reserve-cpus', '0.5', '--reserve-memory', '1Gi', '--capacity-cpus', '2', '--capacity-memory', '4Gi']);
    assert.deepEqual(c.reserve, { cpus: 0.5, memoryBytes: 2 ** 30 });
    assert.deepEqual(c.capacity, { cpus: 2, memoryBytes: 4 * 2 ** 30 });
    assert.deepEqual(load(['--reserve-memory', '0']).reserve, { cpus: 0, memoryBytes: 0 });
    assert.deepEqual(load([], { DOKKAA_CAPACITY_MEMORY: '512M', DOKKAA_RESERVE_CPUS: '1' }), { ...load([]), capacity: { memoryBytes: 512e6 }, reserve: { cpus: 1, memoryBytes: 256 * 2 ** 20 } });
    assert.equal(load([]).capacity, undefined, 'no override: the engine says');
  });

  it('refuses a reserve or capacity it cannot read, naming the flag', () => {
    assert.throws(() => load(['--reserve-cpus', '-1']), { message: '--reserve-cpus: expected a number >= 0, got "-1"' });
    assert.throws(() => load(['--reserve-memory', '1Gb']), { message: '--reserve-memory: expected a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G; 0: none), got "1Gb"' });
    assert.throws(() => load(['--capacity-cpus', '0']), { message: '--capacity-cpus: expected a positive number, got "0"' });
    assert.throws(() => load(['--capacity-memory', '0']), { message: '--capacity-memory: expected a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G), got "0"' });
    assert.throws(() => load([], { DOKKAA_CAPACITY_MEMORY: '-2Gi' }), (err: Error) => err instanceof BadValueError && err.message.startsWith('--capacity-memory: '));
  });

  it('lets flags beat env vars, the last of a repeated flag winning', () => {
    const env = { DOKKAA_NODE: 'from-env', DOKKAA_ETCD: 'http://env:2379', DOKKAA_LEASE_TTL: '99', DOKKAA_LABELS: 'zone=east' };
    const c = load(['--node', 'first', '--node=from-flag', '--etcd', 'http://flag:2379', '--lease-ttl', '3', '--label', 'zone=west'], env);
    assert.equal(c.node, 'from-flag');
    assert.deepEqual(c.etcd, ['http://flag:2379']);
    assert.equal(c.leaseTtlSeconds, 3);
    assert.deepEqual(c.labels, { zone: 'west' }, 'label flags replace DOKKAA_LABELS');
  });

  it('reads repeated --label k=v flags, a value may hold "="', () => {
    assert.deepEqual(load(['--label', 'zone=east', '--label', 'expr=a=b', '--label', 'empty=']).labels, {
      zone: 'east',
      expr: 'a=b',
      empty: '',
    });
  });

  it('rejects a label without a key', () => {
    assert.throws(() => load(['--label', 'zone']), { message: '--label: expected k=v, got "zone"' });
    assert.throws(() => load(['--label', '=x']), { message: '--label: expected k=v, got "=x"' });
    assert.throws(() => load([], { DOKKAA_LABELS: 'a=1,oops' }), { message: '--label: expected k=v, got "oops"' });
  });

  it('rejects numbers that are not positive', () => {
    assert.throws(() => load(['--lease-ttl', 'ten']), { message: '--lease-ttl: expected a positive number, got "ten"' });
    assert.throws(() => load(['--lease-ttl', '0']), { message: '--lease-ttl: expected a positive number, got "0"' });
    assert.throws(() => load(['--resync', '-1']), { message: '--resync: expected a positive number, got "-1"' });
    assert.throws(() => load([], { DOKKAA_RESYNC: 'Infinity' }), { message: '--resync: expected a positive number, got "Infinity"' });
    assert.throws(() => load([], { DOKKAA_LEASE_TTL: '' }), /--lease-ttl: expected a positive number, got ""/);
  });
});
