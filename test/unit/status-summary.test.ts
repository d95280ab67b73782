import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { summarize, type StatusInput } from '../../controllers/status/status-summary.js';
import { decodeManifest, templateHash } from '../../api/manifest.js';
import type { PlacementRecord } from '../../api/records.js';
import { node, placement, replica, spec } from './builders.js';

const manifest = { image: 'web', scale: 2, services: { http: 80 } };
const s = spec(manifest);
const decoded = { ok: true as const, spec: s };

function input(extra: Partial<StatusInput>): StatusInput {
  return { decoded, revision: 7, placements: [], replicas: [], link: undefined, liveNodes: [node('h1'), node('h2')], ...extra };
}

const p0 = placement(s, 0, 'h1', { revision: 7 });
const p1 = placement(s, 1, 'h2', { revision: 7 });

describe('summarize', () => {
  it('is Running when every replica runs the placed spec', () => {
    const st = summarize(
      input({
        placements: [p0, p1],
        replicas: [replica(p0, { ports: { http: { containerPort: 80, hostPort: 32768, protocol: 'tcp' } } }), replica(p1)],
      }),
    );
    assert.equal(st.phase, 'Running');
    assert.equal(st.desired, 2);
    assert.equal(st.running, 2);
    assert.equal(st.message, '2/2 replicas running');
    assert.equal(st.observedRevision, 7);
    assert.equal(st.runningRevision, 7);
    assert.equal(st.errors, undefined);
    assert.deepEqual(st.replicas[0], { replica: 0, node: 'h1', state: 'running', containerId: 'c-0', ready: true, restarts: 0, ports: { http: 32768 } });
    assert.equal(st.replicas[1]!.node, 'h2');
  });

  it('is Running at scale 0 with no replicas', () => {
    const zero = spec({ ...manifest, scale: 0 });
    const st = summarize(input({ decoded: { ok: true, spec: zero } }));
    assert.equal(st.phase, 'Running');
    assert.equal(st.message, '0/0 replicas running');
    assert.deepEqual(st.replicas, []);
  });

  it('is Pending waiting for linked services, naming them', () => {
    const st = summarize(
      input({ placements: [p0, p1], replicas: [replica(p0)], link: { links: {}, missing: ['app/db', 'infra/cache'], revision: 7 } }),
    );
    assert.equal(st.phase, 'Pending');
    assert.equal(st.running, 1);
    assert.equal(st.message, '1/2 replicas running; waiting for linked service(s) with no endpoint: app/db, infra/cache');
  });

  it('is Pending while a host has not reported', () => {
    const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0)] }));
    assert.equal(st.phase, 'Pending');
    assert.equal(st.message, '1/2 replicas running; waiting for the host to report');
    assert.deepEqual(st.replicas[1], { replica: 1, node: 'h2', state: 'pending', restarts: 0, ports: {}, message: 'waiting for the host to report' });
  });

  it('ignores a replica reported by another node than the placement\'s', () => {
    const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0), replica({ ...p1, node: 'h1' })] }));
    assert.equal(st.running, 1);
    assert.equal(st.replicas[1]!.state, 'pending');
  });

  it('is Pending and unscheduled when no live node exists', () => {
    const st = summarize(input({ liveNodes: [] }));
    assert.equal(st.phase, 'Pending');
    assert.equal(st.running, 0);
    assert.equal(st.message, '0/2 replicas running; unschedulable: no live nodes');
    assert.deepEqual(st.replicas.map((r) => r.state), ['unscheduled', 'unscheduled']);
    assert.equal(st.runningRevision, undefined);
  });

  it('is Pending and unscheduled when no node matches the constraints, naming them', () => {
    const c = spec({ ...manifest, scale: 1, constraints: { 'node.labels.gpu': 'yes' } });
    const st = summarize(input({ decoded: { ok: true, spec: c } }));
    assert.equal(st.message, '0/1 replicas running; unschedulable: no live node matches constraints {"node.labels.gpu":"yes"}');
  });

  it('is Pending waiting for the scheduler when a node could take a replica', () => {
    const st = summarize(input({ placements: [p0], replicas: [replica(p0)] }));
    assert.equal(st.phase, 'Pending');
    assert.equal(st.message, '1/2 replicas running; waiting for the scheduler');
  });

  it('is Degraded when some run and some crash, naming the first in trouble', () => {
    const st = summarize(
      input({ placements: [p0, p1], replicas: [replica(p0), replica(p1, { state: 'CrashLoopBackOff', restarts: 3, exitCode: 1, message: 'exited with code 1' })] }),
    );
    assert.equal(st.phase, 'Degraded');
    assert.equal(st.running, 1);
    assert.equal(st.message, '1/2 replicas running; replica 1 CrashLoopBackOff: exited with code 1');
    assert.equal(st.replicas[1]!.restarts, 3);
    assert.equal(st.replicas[1]!.exitCode, 1);
  });

  it('is Failed when none run and some crash', () => {
    const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0, { state: 'failed', exitCode: 2 }), replica(p1, { state: 'pending' })] }));
    assert.equal(st.phase, 'Failed');
    assert.equal(st.running, 0);
    assert.equal(st.message, '0/2 replicas running; replica 0 failed');
  });

  it('names an OOM-killed replica, with its exit code and how it ended', () => {
    const oom = { reason: 'OOMKilled' as const, exitCode: 137, finishedAt: '2026-01-01T00:00:03.000Z' };
    const st = summarize(input({
      placements: [p0, p1],
      replicas: [replica(p0), replica(p1, { state: 'OOMKilled', crashes: 1, exitCode: 137, lastTermination: oom, message: 'killed: out of memory (limit 32Mi); back-off restarting' })],
    }));
    assert.equal(st.phase, 'Degraded');
    assert.equal(st.message, '1/2 replicas running; replica 1 OOMKilled: killed: out of memory (limit 32Mi); back-off restarting');
    assert.deepEqual([st.replicas[1]!.state, st.replicas[1]!.exitCode, st.replicas[1]!.lastTermination], ['OOMKilled', 137, oom]);
  });

  it('is Failed for a replica OOM-killed and not restarted', () => {
    const st = summarize(input({ placements: [p0], decoded: { ok: true, spec: spec({ ...manifest, scale: 1 }) }, replicas: [replica(p0, { state: 'OOMKilled', exitCode: 137 })] }));
    assert.equal(st.phase, 'Failed');
    assert.equal(st.message, '0/1 replicas running; replica 0 OOMKilled');
  });

  it('says when a running replica was restarted after an OOM kill', () => {
    const oom = { reason: 'OOMKilled' as const, exitCode: 137, finishedAt: '2026-01-01T00:00:03.000Z' };
    const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0, { restarts: 2, lastTermination: oom }), replica(p1, { restarts: 1, lastTermination: { ...oom, reason: 'Error', exitCode: 1 } })] }));
    assert.equal(st.phase, 'Running');
    assert.equal(st.message, '2/2 replicas running; replica 0 restarted after OOMKilled at 2026-01-01T00:00:03.000Z');
    assert.deepEqual(st.replicas[0]!.lastTermination, oom);
    assert.equal(st.replicas[1]!.lastTermination?.reason, 'Error');
  });

  it('is Failed for exited replicas', () => {
    const st = summarize(
      input({ placements: [p0, p1], replicas: [replica(p0, { state: 'exited', exitCode: 0 }), replica(p1, { state: 'exited', exitCode: 0 })] }),
    );
    assert.equal(st.phase, 'Failed');
    assert.equal(st.replicas[0]!.exitCode, 0);
  });

  it('is Invalid for a bad manifest, keeping the last revision and counting its running replicas', () => {
    const bad = decodeManifest('{"image":"web","scale":-1}', 'app');
    assert.equal(bad.ok, false);
    const old0 = placement(s, 0, 'h1', { revision: 5 });
    const old1 = placement(s, 1, 'h2', { revision: 5 });
    const st = summarize(input({ decoded: bad, revision: 9, placements: [old0, old1], replicas: [replica(old0), replica(old1)] }));
    assert.equal(st.phase, 'Invalid');
    assert.equal(st.observedRevision, 9);
    assert.equal(st.runningRevision, 5);
    assert.equal(st.desired, 2);
    assert.equal(st.running, 2);
    assert.deepEqual(st.errors, ['scale: expected an integer >= 0, got -1']);
    assert.equal(st.message, 'invalid manifest (still running revision 5): scale: expected an integer >= 0, got -1');
  });

  it('is Invalid without a running revision when nothing was ever placed', () => {
    const bad = decodeManifest('{', 'app');
    const st = summarize(input({ decoded: bad }));
    assert.equal(st.phase, 'Invalid');
    assert.equal(st.runningRevision, undefined);
    assert.equal(st.desired, 0);
    assert.match(st.message, /^invalid manifest: \(manifest\): expected JSON, got /);
  });

  it('does not count a replica still running an old template', () => {
    const oldSpec = spec({ ...manifest, env: { V: '1' } });
    const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0), replica(p1, { templateHash: templateHash(oldSpec) })] }));
    assert.equal(st.running, 1);
    assert.equal(st.phase, 'Pending');
    assert.equal(st.replicas[1]!.message, 'updating to the new spec');
    assert.equal(st.message, '1/2 replicas running; updating to the new spec');
  });

  it('counts a replica still on the old spec mid-rollout as running, but not as updated', () => {
    const oldSpec = spec({ ...manifest, image: 'web:1' });
    const stale: PlacementRecord = placement(oldSpec, 1, 'h2', { revision: 6 });
    const st = summarize(input({ placements: [p0, stale], replicas: [replica(p0), replica(stale)] }));
    assert.equal(st.running, 2);
    assert.equal(st.updated, 1);
    assert.equal(st.phase, 'Running');
    assert.match(st.message, /rolling out: 1\/2 updated/);
  });

  it('does not count a replica whose host still runs another spec than its placement', () => {
    const oldSpec = spec({ ...manifest, image: 'web:1' });
    const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0), replica(p1, { templateHash: placement(oldSpec, 1, 'h2').templateHash })] }));
    assert.equal(st.running, 1);
    assert.notEqual(st.phase, 'Running');
  });

  it('is Degraded with the reason while the rollout to the current spec is stalled', () => {
    const st = summarize(input({
      placements: [p0, p1],
      replicas: [replica(p0), replica(p1, { state: 'CrashLoopBackOff', ready: false, crashes: 2, exitCode: 1 })],
      rollout: { phase: 'Stalled', targetHash: p0.templateHash, targetRevision: 7, message: 'rollout stalled: replica 1 on h2 CrashLoopBackOff', updated: 1, ready: 0, total: 2, startedAt: 'x' },
    }));
    assert.equal(st.phase, 'Degraded');
    assert.match(st.message, /^1\/2 replicas running; rollout stalled: replica 1 on h2 CrashLoopBackOff$/);
  });

  it('reports the newest placement revision as running', () => {
    const a = placement(s, 0, 'h1', { revision: 3 });
    const b = placement(s, 1, 'h2', { revision: 7 });
    const st = summarize(input({ placements: [a, b], replicas: [replica(a), replica(b)] }));
    assert.equal(st.runningRevision, 7);
  });

  it('gives the scheduler\'s reason for a replica it can place nowhere', () => {
    const reason = 'insufficient memory: needs 2Gi, most free on any matching node 1.5Gi (h2)';
    const st = summarize(input({
      placements: [p0],
      replicas: [replica(p0)],
      rollout: { phase: 'Complete', targetHash: p0.templateHash, targetRevision: 7, message: '1 replica(s) run revision 7', updated: 1, ready: 1, total: 1, startedAt: 'x', unschedulable: [{ reason, replicas: [1] }] },
    }));
    assert.equal(st.phase, 'Pending');
    assert.equal(st.message, `1/2 replicas running; unschedulable: ${reason}`);
    assert.deepEqual(st.replicas[1], { replica: 1, node: '', state: 'unscheduled', restarts: 0, ports: {}, message: `unschedulable: ${reason}` });
  });

  describe('global mode', () => {
    const g = spec({ image: 'agent', mode: 'global', constraints: { 'node.labels.role': '!db' } });
    const gDecoded = { ok: true as const, spec: g };
    const nodes = [node('h1'), node('h2'), node('h3'), node('db', { role: 'db' })];

    it('wants one replica per live matching node, not cordoned unless one runs there', () => {
      const a = placement(g, 0, 'h1', { revision: 7 });
      const st = summarize(input({ decoded: gDecoded, liveNodes: nodes, placements: [a], replicas: [replica(a)], cordoned: new Set(['h1', 'h3']) }));
      assert.equal(st.desired, 2, 'h1 (cordoned, runs one) and h2; not h3 (cordoned), not db (no match)');
      assert.deepEqual(st.replicas.map((r) => [r.replica, r.state]), [[0, 'running'], [1, 'unscheduled']]);
      assert.equal(st.message, '1/2 replicas running; waiting for the scheduler');
    });

    it('shows the replicas of nodes the scheduler could not fit, under the index it gave them', () => {
      const a = placement(g, 0, 'h1', { revision: 7 });
      const b = placement(g, 2, 'h3', { revision: 7 });
      const rollout = { phase: 'Complete' as const, targetHash: a.templateHash, targetRevision: 7, message: '', updated: 2, ready: 2, total: 2, startedAt: 'x', unschedulable: [{ reason: 'h2: insufficient memory: needs 2Gi, free 1Gi', replicas: [1] }] };
      const st = summarize(input({ decoded: gDecoded, liveNodes: nodes, placements: [a, b], replicas: [replica(a), replica(b)], rollout }));
      assert.equal(st.desired, 3);
      assert.deepEqual(st.replicas.map((r) => [r.replica, r.node, r.state]), [[0, 'h1', 'running'], [1, '', 'unscheduled'], [2, 'h3', 'running']]);
      assert.equal(st.message, '2/3 replicas running; unschedulable: h2: insufficient memory: needs 2Gi, free 1Gi');
    });
  });

  describe('host-name conflicts', () => {
    const lost = 'services.http: host shop.example.com is already routed to other/web (service www); this service does not get it';
    const lost2 = 'services.http: host *.example.org is already routed to other/web (service www); this service does not get it';

    it('warns in the message and lists them in errors, keeping the phase Running', () => {
      const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0), replica(p1)], routeConflicts: [lost] }));
      assert.equal(st.phase, 'Running');
      assert.equal(st.running, 2);
      assert.equal(st.message, `2/2 replicas running; warning: ${lost}`);
      assert.deepEqual(st.errors, [lost]);
    });

    it('names the first and counts the others', () => {
      const st = summarize(input({ placements: [p0, p1], replicas: [replica(p0)], routeConflicts: [lost, lost2] }));
      assert.equal(st.phase, 'Pending');
      assert.equal(st.message, `1/2 replicas running; waiting for the host to report; warning: ${lost} (and 1 more: see errors or dokkaa describe)`);
      assert.deepEqual(st.errors, [lost, lost2]);
    });

    it('leaves a status without conflicts as it was', () => {
      const plain = summarize(input({ placements: [p0, p1], replicas: [replica(p0), replica(p1)] }));
      assert.deepEqual(summarize(input({ placements: [p0, p1], replicas: [replica(p0), replica(p1)], routeConflicts: [] })), plain);
      assert.equal(plain.errors, undefined);
    });

    it('adds nothing to an Invalid status (its errors are the decoding problems)', () => {
      const bad = decodeManifest('{"image":"web","scale":-1}', 'app');
      const st = summarize(input({ decoded: bad, routeConflicts: [lost] }));
      assert.deepEqual(st.errors, ['scale: expected an integer >= 0, got -1']);
      assert.doesNotMatch(st.message, /warning/);
    });
  });
});

describe('summarize: pinned images', () => {
  const D = `sha256:${'c'.repeat(64)}`;
  const reg = spec({ ...manifest, image: '127.0.0.1:5000/web:2' });
  const pin = { baseHash: templateHash(reg), image: reg.image, digest: D };
  const pinned = { ...reg, imageDigest: D };
  const q0 = placement(pinned, 0, 'h1', { revision: 7 });
  const q1 = placement(pinned, 1, 'h2', { revision: 7 });
  const rollout = (extra: object) => ({ phase: 'Complete' as const, targetHash: templateHash(pinned), targetRevision: 7, message: '', updated: 2, ready: 2, total: 2, startedAt: 'then', ...extra });

  it('counts replicas on the pinned spec as updated and shows the image by digest', () => {
    const st = summarize(input({ decoded: { ok: true, spec: reg }, placements: [q0, q1], replicas: [replica(q0), replica(q1)], rollout: rollout({ pin }) }));
    assert.equal(st.phase, 'Running');
    assert.equal(st.updated, 2);
    assert.equal(st.image, `127.0.0.1:5000/web@${D}`);
  });

  it('says why a new spec could not be pinned while the previous one runs', () => {
    const next = spec({ ...manifest, image: '127.0.0.1:5000/web:3' });
    const message = 'image 127.0.0.1:5000/web:3 not pinned: image or tag not found (HTTP 404: MANIFEST_UNKNOWN: manifest unknown)';
    const st = summarize(input({ decoded: { ok: true, spec: next }, revision: 8, placements: [q0, q1], replicas: [replica(q0), replica(q1)], rollout: rollout({ pin, pinError: { baseHash: templateHash(next), message } }) }));
    assert.equal(st.phase, 'Degraded');
    assert.equal(st.message, `2/2 replicas running; ${message} (still running revision 7)`);
    assert.equal(st.image, '127.0.0.1:5000/web:3', 'the new spec has no pin yet');
  });

  it('fails a first deployment that cannot be pinned', () => {
    const st = summarize(input({ decoded: { ok: true, spec: reg }, rollout: rollout({ pinError: { baseHash: templateHash(reg), message: 'image x not pinned: authentication failed (HTTP 401)' } }) }));
    assert.equal(st.phase, 'Failed');
    assert.match(st.message, /^0\/2 replicas running; image x not pinned: authentication failed/);
  });
});
