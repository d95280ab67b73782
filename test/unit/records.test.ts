import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as t from 'io-ts';
import { canonicalJson } from '../../api/canonical-json.js';
import { Keys } from '../../api/keys.js';
import { resolveLinks } from '../../controllers/link-injector/link-resolution.js';
import { summarize } from '../../controllers/status/status-summary.js';
import { allocatorOn } from './port-allocator.js';
import {
  checkRecord,
  decodeRecord,
  EndpointRecord,
  EventRecord,
  LeaderRecord,
  LinkRecord,
  NodeRecord,
  PlacementRecord,
  PortRecord,
  ReplicaRecord,
  RolloutRecord,
  SkyDnsRecord,
  StatusRecord,
} from '../../api/records.js';
import type { Config } from '../../src/config.js';
import type { Lease } from '../../src/etcd/kv-store.js';
import { EVENT_WRITE_INTERVAL_MS, EventRecorder } from '../../src/events/event-recorder.js';
import { createLogger } from '../../src/logging.js';
import { endpoint, node, placement, replica, spec } from './builders.js';
import { FakeClock } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const log = createLogger('error', true);

/**
 * A record as its writer serialises it decodes to the value JSON.parse gave before codecs,
 * serialising the same byte for byte (what `dokkaa status --json` and `nodes --json` print,
 * and what writers compare with the value they are about to put).
 */
function roundTrips(codec: t.Decoder<unknown, unknown>, value: string): void {
  const r = checkRecord(codec, value);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.value, JSON.parse(value));
  assert.equal(JSON.stringify(r.value), JSON.stringify(JSON.parse(value)));
  assert.equal(canonicalJson(r.value), canonicalJson(JSON.parse(value)));
}

/** Values copied from a real run (docs/keys.md). */
const fromARun = {
  node: '{"name":"vm","address":"172.17.0.1","labels":{},"capacity":{"cpus":2,"memoryBytes":25276026880},"version":"0.1.0","startedAt":"2026-11-24T17:58:22.319Z"}',
  placement:
    '{"app":"dummy","name":"nginx","replica":0,"node":"vm","spec":{"image":"dokkaa/busybox:latest","scale":1,"command":["httpd","-f","-p","80","-h","/www"],"env":{},"services":{"nginx":{"port":80,"protocol":"tcp"}},"links":[],"restart":"always","constraints":{},"update":{"parallelism":1,"order":"stop-first","delayMs":0,"deadlineMs":120000},"stopGracePeriodMs":10000},"templateHash":"75fdc3dc7a00","revision":1618,"updatedAt":1795543105571}',
  replica:
    '{"address":"172.17.0.1","app":"dummy","containerId":"352042873a464b67bbcb2375af9814ec8baf89df0ff6aac9854941c1a4d12826","containerName":"dummy---nginx---0","crashes":0,"name":"nginx","node":"vm","ports":{"nginx":{"containerPort":80,"hostPort":32768,"protocol":"tcp"}},"ready":true,"replica":0,"restarts":0,"revision":1618,"startedAt":"2026-11-24T17:58:26.224100051Z","state":"running","templateHash":"75fdc3dc7a00"}',
  crashLooping:
    '{"address":"172.17.0.1","app":"dummy","containerId":"b0a54c8cc436756e00a9e30d6f89becd2fe099e5a93c813e69f6c62d8d388408","containerName":"dummy---crasher---0","crashes":4,"exitCode":3,"finishedAt":"2026-11-24T17:59:48.722042723Z","lastLog":["giving up","starting","giving up","starting","giving up"],"message":"back-off restarting crashed container (exit code 3)","name":"crasher","node":"vm","ports":{},"ready":false,"replica":0,"restarts":3,"revision":1701,"startedAt":"2026-11-24T17:59:47.705810974Z","state":"CrashLoopBackOff","templateHash":"db38050d6ef4"}',
  endpoint: '{"app":"dummy","containerId":"352042873a464b67bbcb2375af9814ec8baf89df0ff6aac9854941c1a4d12826","host":"172.17.0.1","name":"nginx","node":"vm","port":32768,"protocol":"tcp","replica":0}',
  link: '{"links":{"NGINX":{"app":"dummy","port":20000,"protocol":"tcp","service":"nginx"}},"missing":[],"revision":1631}',
  port: '{"port":20000,"protocol":"tcp"}',
  rollout:
    '{"message":"3 replica(s) run revision 1663","phase":"Complete","previous":{"manifest":"{\\n  \\"image\\": \\"dokkaa/busybox\\"\\n}","revision":1644,"templateHash":"75fdc3dc7a00"},"ready":3,"stable":{"manifest":"{\\n  \\"image\\": \\"dokkaa/busybox\\",\\n  \\"env\\": {\\"VERSION\\": \\"2\\"}\\n}","revision":1663,"templateHash":"f3fbb9bebed6"},"startedAt":"2026-11-24T17:58:57.983Z","targetHash":"f3fbb9bebed6","targetRevision":1663,"total":3,"updated":3}',
  status:
    '{"desired":1,"message":"1/1 replicas running","observedRevision":1618,"phase":"Running","replicas":[{"containerId":"352042873a464b67bbcb2375af9814ec8baf89df0ff6aac9854941c1a4d12826","node":"vm","ports":{"nginx":32768},"ready":true,"replica":0,"restarts":0,"state":"running"}],"running":1,"runningRevision":1618,"updated":1}',
  unschedulable:
    '{"desired":1,"message":"0/1 replicas running; unschedulable: no live node matches constraints {\\"node.labels.disk\\":\\"ssd\\"}","observedRevision":1711,"phase":"Pending","replicas":[{"message":"unschedulable: no live node matches constraints {\\"node.labels.disk\\":\\"ssd\\"}","node":"","ports":{},"replica":0,"restarts":0,"state":"unscheduled"}],"running":0,"updated":0}',
  event: '{"type":"Normal","reason":"Started","message":"started container dummy---nginx---0 (dokkaa/busybox:latest)","replica":0,"node":"vm","time":"2026-11-24T17:58:26.240Z","source":"vm"}',
  leader: '{"id":"82b68233-cd70-4f55-8435-a259927cc5a3","host":"vm","pid":7462,"since":"2026-11-24T17:58:22.360Z"}',
  skydns: '{"host":"172.17.0.1","port":32768}',
};

describe('record codecs: what the writers write decodes unchanged', () => {
  it('decodes the records of a real run', () => {
    roundTrips(NodeRecord, fromARun.node);
    roundTrips(PlacementRecord, fromARun.placement);
    roundTrips(ReplicaRecord, fromARun.replica);
    roundTrips(ReplicaRecord, fromARun.crashLooping);
    roundTrips(EndpointRecord, fromARun.endpoint);
    roundTrips(LinkRecord, fromARun.link);
    roundTrips(PortRecord, fromARun.port);
    roundTrips(RolloutRecord, fromARun.rollout);
    roundTrips(StatusRecord, fromARun.status);
    roundTrips(StatusRecord, fromARun.unschedulable);
    roundTrips(EventRecord, fromARun.event);
    roundTrips(LeaderRecord, fromARun.leader);
    roundTrips(SkyDnsRecord, fromARun.skydns);
  });

  it('decodes records with every optional field, as the writers fill them', () => {
    const s = spec({
      image: 'web',
      command: ['serve'],
      env: { A: '1' },
      services: { http: 80, dns: { port: 53, protocol: 'udp', role: 'dns' } },
      links: ['db', 'other/cache'],
      health: { http: { port: 80, path: '/ok' }, interval: '1s' },
      update: { order: 'start-first', parallelism: 2 },
      stopGracePeriod: '3s',
    });
    const p = placement(s, 0, 'h1', { updatedAt: 1795543105571 });
    roundTrips(PlacementRecord, JSON.stringify(p));
    roundTrips(PlacementRecord, JSON.stringify(placement(spec({ image: 'x', health: { cmd: ['true'] } }), 1, 'h2')));
    roundTrips(PlacementRecord, JSON.stringify(placement(spec({ image: 'x', health: { tcp: 5432 } }), 1, 'h2')));
    const ports = { http: { containerPort: 80, hostPort: 32768, protocol: 'tcp' as const } };
    roundTrips(
      ReplicaRecord,
      canonicalJson(
        replica(p, {
          ports,
          exitCode: 0,
          startedAt: 'a',
          finishedAt: 'b',
          health: { status: 'unhealthy', failures: 3, lastError: 'refused' },
          lastLog: ['x'],
          serving: { containerId: 'old', ports },
          message: 'updating: the previous container serves until this one is ready',
        }),
      ),
    );
    roundTrips(ReplicaRecord, canonicalJson(replica(p, { state: 'pending', containerId: undefined, ports: {} })));
    roundTrips(ReplicaRecord, canonicalJson(replica(p, { state: 'failed', message: 'image not found' })));
    roundTrips(EndpointRecord, canonicalJson(endpoint('10.0.0.1', 32768, { protocol: 'udp' })));
    roundTrips(NodeRecord, JSON.stringify({ ...node('h1', { disk: 'ssd' }), docker: 'unix:///var/run/docker.sock' }));
    roundTrips(EventRecord, JSON.stringify({ type: 'Warning', reason: 'RolloutStalled', message: 'm', time: 't', source: 'controller' }));
    roundTrips(
      RolloutRecord,
      canonicalJson({
        phase: 'Stalled', targetHash: 'h2', targetRevision: 9, message: 'rollout stalled', updated: 1, ready: 0, total: 3, startedAt: 't',
        target: { templateHash: 'h2', revision: 9, manifest: '{}' },
      }),
    );
  });

  it('decodes the status summarize() writes, Invalid with errors included', () => {
    const s = spec({ image: 'web', scale: 2, services: { http: 80 } });
    const p0 = placement(s, 0, 'h1', { revision: 7 });
    const ready = replica(p0, { ports: { http: { containerPort: 80, hostPort: 32768, protocol: 'tcp' } }, lastLog: ['bye'], exitCode: 1 });
    const running = summarize({ decoded: { ok: true, spec: s }, revision: 7, placements: [p0], replicas: [ready], link: undefined, liveNodes: [node('h1')] });
    roundTrips(StatusRecord, canonicalJson(running));
    const invalid = summarize({ decoded: { ok: false, errors: ['image: expected a string, got 1'] }, revision: 8, placements: [p0], replicas: [ready], link: undefined, liveNodes: [node('h1')] });
    assert.equal(invalid.phase, 'Invalid');
    roundTrips(StatusRecord, canonicalJson(invalid));
  });

  it('decodes the link record the link injector writes', () => {
    const resolved = resolveLinks([{ app: 'shop', service: 'db' }, { app: 'shop', service: 'cache' }], (l) => (l.service === 'db' ? { port: { port: 20000, protocol: 'tcp' }, hasEndpoint: true } : { port: undefined, hasEndpoint: false }), {});
    roundTrips(LinkRecord, canonicalJson({ ...resolved, revision: 3 }));
  });

  it('decodes the port records the allocator writes', async () => {
    const store = new FakeKvStore();
    const keys = new Keys();
    await store.put(keys.manifest('shop', 'crawler'), JSON.stringify({ image: 'x', links: ['nginx', 'dns'] }));
    await store.put(keys.manifest('shop', 'dns'), JSON.stringify({ image: 'x', services: { dns: { port: 53, protocol: 'udp' } } }));
    await (await allocatorOn(store, keys, { linkPorts: { min: 20000, max: 20010 } } as Config)).reconcile('ports', log);
    const written = (await store.list(keys.ports)).kvs;
    assert.equal(written.length, 2);
    for (const kv of written) roundTrips(PortRecord, kv.value);
  });

  it('decodes the events the event recorder writes', async () => {
    const store = new (class extends FakeKvStore {
      override grantLease(): Promise<Lease> {
        return Promise.resolve({ id: '1', onLost: () => undefined, onKeepalive: () => undefined, keepaliveOnce: async () => undefined, revoke: async () => undefined, release: () => undefined });
      }
    })();
    const keys = new Keys();
    const clock = new FakeClock(1795543106240);
    const recorder = new EventRecorder(store, keys, clock, { node: 'vm' } as Config, log);
    await recorder.record('dummy', 'nginx', { type: 'Normal', reason: 'Started', message: 'started', replica: 0, node: 'vm' });
    const many = recorder.recordMany('dummy', 'nginx', [{ type: 'Warning', reason: 'BackOff', message: 'm' }]);
    await clock.advance(EVENT_WRITE_INTERVAL_MS);
    await many;
    const written = (await store.list(keys.nodeEvents('vm'))).kvs;
    assert.equal(written.length, 2);
    for (const kv of written) roundTrips(EventRecord, kv.value);
  });
});

describe('record codecs: what does not fit', () => {
  it('rejects a malformed record with one `path: expected X, got Y` per problem', () => {
    const r = checkRecord(ReplicaRecord, canonicalJson({ ...JSON.parse(fromARun.replica), state: 'dead', ports: { nginx: { containerPort: 80, hostPort: '32768', protocol: 'tcp' } }, ready: undefined }));
    assert.deepEqual(r, {
      ok: false,
      error:
        'state: expected "pending", "running", "CrashLoopBackOff", "OOMKilled", "exited" or "failed", got "dead"; ports.nginx.hostPort: expected a number, got "32768"; ready: expected a boolean, got nothing',
    });
  });

  it('says so when a record is not JSON, or not an object', () => {
    assert.deepEqual(checkRecord(NodeRecord, '42'), { ok: false, error: '(record): expected a JSON object, got 42' });
    assert.deepEqual(checkRecord(NodeRecord, '[]'), { ok: false, error: '(record): expected a JSON object, got []' });
    const notJson = checkRecord(NodeRecord, '{"name":');
    assert.equal(notJson.ok, false);
    assert.match(notJson.ok ? '' : notJson.error, /^\(record\): expected JSON, got /);
  });

  it('reports a bad nested spec by its path', () => {
    const p = JSON.parse(fromARun.placement) as { spec: Record<string, unknown> };
    p.spec.update = { parallelism: 1, order: 'sideways', delayMs: 0, deadlineMs: 1 };
    const r = checkRecord(PlacementRecord, JSON.stringify(p));
    assert.deepEqual(r, { ok: false, error: 'spec.update.order: expected "start-first" or "stop-first", got "sideways"' });
  });

  it('rejects a link record from before the ambassador (env instead of links): readers wait for a new one', () => {
    assert.equal(decodeRecord(LinkRecord, '{"env":{"SERVICE_NGINX_ADDR":"10.0.0.1"},"missing":[],"revision":3}'), undefined);
  });

  it('keeps fields it does not know', () => {
    const r = decodeRecord(LeaderRecord, '{"id":"x","host":"h","pid":1,"since":"s","term":4}');
    assert.deepEqual(r, { id: 'x', host: 'h', pid: 1, since: 's', term: 4 });
  });

  it('accepts a status without `updated` (written before rolling updates)', () => {
    const old = JSON.parse(fromARun.status) as Record<string, unknown>;
    delete old.updated;
    assert.equal(decodeRecord(StatusRecord, JSON.stringify(old))?.updated, undefined);
    assert.equal(decodeRecord(StatusRecord, JSON.stringify(old))?.phase, 'Running');
  });

  it('rejects an endpoint whose port is not a port', () => {
    for (const port of [0, 70000, 1.5, '80']) assert.equal(decodeRecord(EndpointRecord, JSON.stringify({ ...JSON.parse(fromARun.endpoint), port })), undefined);
  });
});

describe('decodeRecord', () => {
  it('is undefined for an absent key, without calling onInvalid', () => {
    const calls: string[] = [];
    assert.equal(decodeRecord(NodeRecord, undefined, (e) => calls.push(e)), undefined);
    assert.equal(decodeRecord(NodeRecord, null, (e) => calls.push(e)), undefined);
    assert.deepEqual(calls, []);
  });

  it('is undefined for a bad record, and tells onInvalid why; it never throws', () => {
    const calls: string[] = [];
    assert.equal(decodeRecord(LeaderRecord, '{"id":"x"}', (e) => calls.push(e)), undefined);
    assert.equal(decodeRecord(LeaderRecord, 'not json', (e) => calls.push(e)), undefined);
    assert.equal(decodeRecord(LeaderRecord, 'null'), undefined);
    assert.equal(calls.length, 2);
    assert.equal(calls[0], 'host: expected a string, got nothing; pid: expected a number, got nothing; since: expected a string, got nothing');
  });
});

describe('checkRecord: a value nested deeper than JSON.stringify recurses', () => {
  it('reports the record as not decoding instead of throwing (found by fuzzing)', () => {
    const n = 200_000;
    const r = checkRecord(StatusRecord, `{"phase":${'['.repeat(n)}${']'.repeat(n)}}`);
    assert.ok(!r.ok);
    assert.match(r.error, /^phase: expected "Pending", "Running", "Degraded", "Invalid", "Forbidden" or "Failed", got \[\[\[\.\.\. \(an array nested too deep to show\)/);
  });
});
