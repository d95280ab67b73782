import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PlacementRecord, ReplicaRecord } from '../../api/records.js';
import type { ContainerDetails, ContainerSummary } from '../../src/docker/container-engine.js';
import { containerTemplate, LABEL } from '../../controllers/node-runner/container-template.js';
import type { HealthState } from '../../controllers/node-runner/health-prober.js';
import {
  planContainers, planHealth, planRestart, planServing, replicaRecord, unseenExit,
  type Kept, type ReplicaInput, type Step,
} from '../../controllers/node-runner/replica-plan.js';
import { placement, replica, spec } from './builders.js';

const host = { node: 'h1', address: '10.0.0.1', resolver: undefined, cluster: '/dokkaa' };
const NAME = 'app---web---0';
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const STARTED = iso(0);
const FINISHED = iso(3_000);

const web = (extra: object = {}) => placement(spec({ image: 'nginx', services: { web: 80 }, stopGracePeriod: '2s', ...extra }), 0, 'h1');
const p = web();
const startFirst = web({ update: { order: 'start-first' } });
const linked = web({ links: ['db', 'other/cache'] });
const checked = web({ health: { tcp: 80, interval: '500ms', retries: 2 } });
const template = (pl: PlacementRecord, env: Record<string, string> = {}) => containerTemplate(pl, env, 'h1', undefined, '/dokkaa');

function input(pl: PlacementRecord | undefined, extra: Partial<ReplicaInput> & { mine?: ReplicaRecord } = {}): ReplicaInput {
  const { mine, ...rest } = extra;
  return { app: 'app', name: 'web', replica: 0, host, placement: pl, record: mine && { value: mine, modRevision: 7 }, containers: [], ...rest };
}

function container(id: string, hash: string, state = 'running', name = NAME): ContainerSummary {
  return { id, name, labels: { [LABEL.hash]: hash }, state };
}

function details(c: ContainerSummary, extra: Partial<ContainerDetails> = {}): ContainerDetails {
  const running = (extra.state ?? c.state) === 'running';
  return { ...c, running, exitCode: 0, startedAt: STARTED, hostPorts: {}, env: [], ...(running ? {} : { finishedAt: FINISHED }), ...extra };
}

/** What planContainers keeps of `containers` (it must keep one). */
function keep(pl: PlacementRecord, containers: ContainerSummary[], mine?: ReplicaRecord): Kept {
  const kept = planContainers(input(pl, { containers, ...(mine ? { mine } : {}) })).kept;
  assert.ok(kept?.containerId, 'a container is kept');
  return kept as Kept;
}

const failed = (pl: PlacementRecord): ReplicaRecord => ({
  app: 'app', name: 'web', replica: 0, node: 'h1', address: '10.0.0.1', containerName: NAME,
  revision: pl.revision, templateHash: pl.templateHash, ports: {}, ready: false, state: 'failed', restarts: 0, crashes: 0,
});
const pending = (pl: PlacementRecord, missing: string): ReplicaRecord => ({
  ...failed(pl), state: 'pending', message: `waiting for linked service(s) with no endpoint yet: ${missing}`,
});
const create = (pl: PlacementRecord, env: Record<string, string> = {}): Step[] => [
  { kind: 'pull', image: 'nginx:latest', failed: failed(pl) },
  { kind: 'create', spec: template(pl, env), name: NAME },
];

describe('planContainers', () => {
  const H = template(p).hash;
  const old = container('old', 'old-hash');
  // Serving: its service is published, so it has endpoints to drain.
  const mine = replica(p, { containerId: 'old', ports: { web: { containerPort: 80, hostPort: 31000, protocol: 'tcp' } } });
  const plain = placement(spec({ image: 'nginx', stopGracePeriod: '2s' }), 0, 'h1');
  const plainMine = replica(plain, { containerId: 'old' });
  const cases: { name: string; input: ReplicaInput; steps: Step[]; kept?: Partial<Kept> | 'none' }[] = [
    { name: 'not placed, nothing there: nothing to do', input: input(undefined), steps: [], kept: 'none' },
    {
      name: 'not placed, not ready: removes every container, with the default grace, and this host\'s record',
      input: input(undefined, { containers: [old, container('c1', H)], mine: { ...mine, ready: false } }),
      steps: [
        { kind: 'remove', containers: [old, container('c1', H)], reason: 'no longer placed here', graceSeconds: 10 },
        { kind: 'deleteRecord', modRevision: 7 },
      ],
      kept: 'none',
    },
    {
      name: 'not placed, serving: says not ready and drains before the containers stop, then deletes the record as re-read',
      input: input(undefined, { containers: [old], mine }),
      steps: [
        { kind: 'writeRecord', record: { ...mine, ready: false, message: 'no longer placed here; stopping' } },
        { kind: 'drain' },
        { kind: 'remove', containers: [old], reason: 'no longer placed here', graceSeconds: 10 },
        { kind: 'readRecord' },
        { kind: 'deleteRecord' },
      ],
      kept: 'none',
    },
    {
      name: 'not placed, ready but without endpoints (no service): no drain, stops at once',
      input: input(undefined, { containers: [old], mine: plainMine }),
      steps: [{ kind: 'remove', containers: [old], reason: 'no longer placed here', graceSeconds: 10 }, { kind: 'deleteRecord', modRevision: 7 }],
      kept: 'none',
    },
    {
      name: 'not placed: another host\'s record stays',
      input: input(undefined, { containers: [old], mine: replica({ ...p, node: 'h2' }) }),
      steps: [{ kind: 'remove', containers: [old], reason: 'no longer placed here', graceSeconds: 10 }],
      kept: 'none',
    },
    {
      name: 'no container: pulls the image if missing and creates one under the replica\'s name',
      input: input(p),
      steps: create(p),
      kept: { containerId: undefined, restarts: 0, crashes: 0, countedExit: undefined, lastLog: undefined, serving: undefined, waitingFor: [] },
    },
    {
      name: 'no container: the record of a container that is gone lends it no counts',
      input: input(p, { mine: replica(p, { containerId: 'gone', restarts: 4, crashes: 3, finishedAt: FINISHED, lastLog: ['x'], ready: false }) }),
      steps: create(p),
      kept: { containerId: undefined, restarts: 0, crashes: 0, countedExit: undefined, lastLog: undefined },
    },
    {
      name: 'adopts a container with the template\'s hash, with the counts its record gives it',
      input: input(p, { containers: [container('c1', H)], mine: replica(p, { containerId: 'c1', restarts: 2, crashes: 1, finishedAt: FINISHED, lastLog: ['x'] }) }),
      steps: [],
      kept: { containerId: 'c1', restarts: 2, crashes: 1, countedExit: FINISHED, lastLog: ['x'] },
    },
    {
      name: 'adopts, starting the counts again when the record is about another container',
      input: input(p, { containers: [container('c1', H)], mine: replica(p, { containerId: 'c9', restarts: 2, crashes: 1, finishedAt: FINISHED }) }),
      steps: [],
      kept: { containerId: 'c1', restarts: 0, crashes: 0, countedExit: undefined },
    },
    {
      name: 'adopts, starting the counts again when the record is another host\'s',
      input: input(p, { containers: [container('c1', H)], mine: replica({ ...p, node: 'h2' }, { containerId: 'c1', restarts: 2 }) }),
      steps: [],
      kept: { containerId: 'c1', restarts: 0, mine: undefined },
    },
    {
      name: 'keeps the first of several containers for the replica and removes the rest',
      input: input(p, { containers: [container('a', H), container('b', H), old] }),
      steps: [{ kind: 'remove', containers: [container('b', H), old], reason: 'spec changed', graceSeconds: 2 }],
      kept: { containerId: 'a' },
    },
    {
      name: 'spec changed, stop-first: out of the endpoints, drain, remove the old one, create the new',
      input: input(p, { containers: [old], mine }),
      steps: [
        { kind: 'writeRecord', record: { ...mine, ready: false, message: 'stopping for an update' } },
        { kind: 'drain' },
        { kind: 'remove', containers: [old], reason: 'spec changed', graceSeconds: 2 },
        ...create(p),
      ],
    },
    {
      name: 'spec changed, stop-first, ready without endpoints (no service): no drain',
      input: input(plain, { containers: [old], mine: plainMine }),
      steps: [{ kind: 'remove', containers: [old], reason: 'spec changed', graceSeconds: 2 }, ...create(plain)],
    },
    {
      name: 'spec changed, stop-first, replica not ready: no drain',
      input: input(p, { containers: [old], mine: { ...mine, ready: false } }),
      steps: [{ kind: 'remove', containers: [old], reason: 'spec changed', graceSeconds: 2 }, ...create(p)],
    },
    {
      name: 'spec changed, start-first: the old container serves; the new one gets a temporary name',
      input: input(startFirst, { containers: [old], mine }),
      steps: [
        { kind: 'pull', image: 'nginx:latest', failed: failed(startFirst) },
        { kind: 'create', spec: { ...template(startFirst), name: `${NAME}-${template(startFirst).hash}` }, name: NAME },
      ],
      kept: { containerId: undefined, serving: old },
    },
    {
      name: 'start-first with the new container there: both stay until it is ready',
      input: input(startFirst, { containers: [container('new', template(startFirst).hash), old], mine }),
      steps: [],
      kept: { containerId: 'new', serving: old },
    },
    {
      name: 'start-first over a stopped container: replaced as stop-first',
      input: input(startFirst, { containers: [container('old', 'old-hash', 'exited')] }),
      steps: [{ kind: 'remove', containers: [container('old', 'old-hash', 'exited')], reason: 'spec changed', graceSeconds: 2 }, ...create(startFirst)],
      kept: { serving: undefined },
    },
    {
      name: 'links not resolved: pending, nothing created',
      input: input(linked),
      steps: [{ kind: 'writeRecord', record: pending(linked, 'app/db, other/cache') }],
      kept: 'none',
    },
    {
      name: 'links partly resolved: waits for the missing one',
      input: input(linked, { links: { env: { SERVICE_DB_ADDR: '172.17.0.1', SERVICE_DB_PORT: '30001' }, missing: ['other/cache'] } }),
      steps: [{ kind: 'writeRecord', record: pending(linked, 'other/cache') }],
      kept: 'none',
    },
    {
      name: 'links not resolved: the newest container keeps running whatever its spec; the others go',
      input: input(linked, { containers: [old, container('older', 'x', 'running')], mine }),
      steps: [
        { kind: 'writeRecord', record: { ...mine, ready: false, message: 'stopping for an update' } },
        { kind: 'drain' },
        { kind: 'remove', containers: [container('older', 'x', 'running')], reason: 'spec changed', graceSeconds: 2 },
      ],
      kept: { containerId: 'old', waitingFor: ['app/db', 'other/cache'] },
    },
    {
      name: 'links not resolved, start-first: no second container serves',
      input: input(web({ links: ['db'], update: { order: 'start-first' } }), { containers: [old, container('older', 'x')] }),
      steps: [{ kind: 'remove', containers: [container('older', 'x')], reason: 'spec changed', graceSeconds: 2 }],
      kept: { containerId: 'old', serving: undefined },
    },
    {
      name: 'links resolved: their env is in the container',
      input: input(linked, { links: { env: { SERVICE_DB_ADDR: '172.17.0.1', SERVICE_DB_PORT: '30001' }, missing: [] } }),
      steps: create(linked, { SERVICE_DB_ADDR: '172.17.0.1', SERVICE_DB_PORT: '30001' }),
      kept: { waitingFor: [] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planContainers(c.input);
      assert.deepEqual(plan.steps, c.steps);
      if (c.kept === 'none') assert.equal(plan.kept, undefined);
      else for (const [k, v] of Object.entries(c.kept ?? {})) assert.deepEqual(plan.kept?.[k as keyof Kept], v, k);
    });
  }

  it('gives the container the host\'s resolver and the cluster label', () => {
    const plan = planContainers(input(p, { host: { ...host, resolver: '172.17.0.1' } }));
    const created = plan.steps.find((s) => s.kind === 'create');
    assert.ok(created?.kind === 'create');
    assert.deepEqual(created.spec.dns, ['172.17.0.1']);
    assert.equal(created.spec.labels[LABEL.cluster], '/dokkaa');
  });
});

describe('planRestart', () => {
  const c1 = container('c1', template(p).hash);
  const never = web({ restart: 'never' });
  const onFailure = web({ restart: 'on-failure' });
  const exited = (code: number, extra: Partial<ContainerDetails> = {}) => details(c1, { state: 'exited', exitCode: code, ...extra });
  const counted = (extra: Partial<ReplicaRecord>) => replica(p, { containerId: 'c1', state: 'CrashLoopBackOff', finishedAt: FINISHED, ...extra });
  const backOff = (code: number, restart: number, seconds: number): Step => ({
    kind: 'event', type: 'Warning', reason: 'BackOff', message: `container exited with code ${code}; restart ${restart} after ${seconds} s`,
  });
  const restarted = (exitCode: number, restarts: number, crashes: number): Step[] => [
    { kind: 'start', containerId: 'c1' },
    { kind: 'log', level: 'info', message: 'container restarted', fields: { containerId: 'c1', exitCode, restarts, crashes } },
  ];
  const cases: {
    name: string; kept: Kept; details: ContainerDetails; now: number; lastLines?: string[];
    steps: Step[]; after: Partial<Kept>;
  }[] = [
    { name: 'running: nothing', kept: keep(p, [c1]), details: details(c1), now: T0, steps: [], after: { requeueAfterMs: undefined, restarts: 0 } },
    {
      name: 'only created: started',
      kept: keep(p, [c1]), details: details(c1, { state: 'created', finishedAt: undefined }), now: T0,
      steps: [{ kind: 'start', containerId: 'c1' }], after: { restarts: 0, crashes: 0 },
    },
    {
      name: 'a first crash: BackOff, and a wait of 1 s from the exit',
      kept: keep(p, [c1]), details: exited(1), now: T0 + 3_200, lastLines: ['oops'],
      steps: [backOff(1, 1, 1)],
      after: { crashes: 1, countedExit: FINISHED, requeueAfterMs: 800, restarts: 0, lastLog: ['oops'] },
    },
    {
      name: 'a first crash seen after its backoff: restarted at once',
      kept: keep(p, [c1]), details: exited(1), now: T0 + 4_500, lastLines: [],
      steps: [backOff(1, 1, 1), ...restarted(1, 1, 1)],
      after: { crashes: 1, countedExit: FINISHED, requeueAfterMs: undefined, restarts: 1, lastLog: [] },
    },
    {
      name: 'an exit already counted: no second BackOff, waits what is left',
      kept: keep(p, [c1], counted({ restarts: 1, crashes: 2, lastLog: ['kept'] })), details: exited(1), now: T0 + 3_500,
      steps: [], after: { crashes: 2, requeueAfterMs: 1_500, restarts: 1, lastLog: ['kept'] },
    },
    {
      name: 'an exit already counted whose backoff has passed: restarted',
      kept: keep(p, [c1], counted({ restarts: 1, crashes: 2 })), details: exited(1), now: T0 + 5_000,
      steps: restarted(1, 2, 2), after: { crashes: 2, requeueAfterMs: undefined, restarts: 2 },
    },
    {
      name: 'a crash after a run of 10 minutes starts the count again',
      kept: keep(p, [c1], counted({ crashes: 6, finishedAt: iso(-700_000) })),
      details: exited(137, { startedAt: iso(-597_000) }), now: T0 + 3_100,
      steps: [backOff(137, 1, 1)], after: { crashes: 1, requeueAfterMs: 900 },
    },
    {
      name: 'the backoff doubles with each crash',
      kept: keep(p, [c1], counted({ restarts: 3, crashes: 3, finishedAt: iso(-60_000) })), details: exited(1), now: T0 + 3_000,
      steps: [backOff(1, 4, 8)], after: { crashes: 4, requeueAfterMs: 8_000 },
    },
    {
      name: 'restart "never": stays exited, with its last lines and how it ended; the exit is seen, not counted',
      kept: keep(never, [container('c1', template(never).hash)]), details: exited(3), now: T0 + 60_000, lastLines: ['bye'],
      steps: [],
      after: { crashes: 0, requeueAfterMs: undefined, lastLog: ['bye'], countedExit: FINISHED, lastTermination: { reason: 'Error', exitCode: 3, finishedAt: FINISHED } },
    },
    {
      name: 'restart "on-failure": a clean exit stays exited',
      kept: keep(onFailure, [container('c1', template(onFailure).hash)]), details: exited(0), now: T0 + 60_000,
      steps: [], after: { requeueAfterMs: undefined, restarts: 0, lastTermination: { reason: 'Completed', exitCode: 0, finishedAt: FINISHED } },
    },
    {
      name: 'restart "on-failure": a failure is restarted',
      kept: keep(onFailure, [container('c1', template(onFailure).hash)]), details: exited(2), now: T0 + 60_000,
      steps: [backOff(2, 1, 1), ...restarted(2, 1, 1)], after: { restarts: 1 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = planRestart(c.kept, c.details, c.lastLines, c.now);
      assert.deepEqual(r.steps, c.steps);
      for (const [k, v] of Object.entries(c.after)) assert.deepEqual(r.kept[k as keyof Kept], v, k);
    });
  }

  it('reads the last lines only of an exit not counted yet', () => {
    assert.equal(unseenExit(keep(p, [c1]), details(c1)), false, 'running');
    assert.equal(unseenExit(keep(p, [c1]), details(c1, { state: 'created', finishedAt: undefined })), false, 'created');
    assert.equal(unseenExit(keep(p, [c1]), exited(1)), true, 'a new exit');
    assert.equal(unseenExit(keep(p, [c1], counted({})), exited(1)), false, 'counted');
  });
});

describe('planRestart after an OOM kill', () => {
  const limited = web({ resources: { memory: '32Mi' } });
  const neverLimited = web({ resources: { memory: '32Mi' }, restart: 'never' });
  const c1 = container('c1', template(limited).hash);
  const oomKilled = details(c1, { state: 'exited', exitCode: 137, oomKilled: true });
  const OOM = { reason: 'OOMKilled', exitCode: 137, finishedAt: FINISHED } as const;
  const oomEvent = (message: string): Step => ({ kind: 'event', type: 'Warning', reason: 'OOMKilled', message });
  const seen = (pl: PlacementRecord, extra: Partial<ReplicaRecord>) =>
    replica(pl, { containerId: 'c1', state: 'OOMKilled', exitCode: 137, finishedAt: FINISHED, lastTermination: OOM, ...extra });
  const cases: { name: string; kept: Kept; details: ContainerDetails; now: number; steps: Step[]; after: Partial<Kept> }[] = [
    {
      name: 'a first OOM kill: one OOMKilled event (not BackOff) with the limit and the restart to come; a crash to back off from',
      kept: keep(limited, [c1]), details: oomKilled, now: T0 + 3_200,
      steps: [oomEvent('container killed: out of memory (limit 32Mi) (exit code 137); restart 1 after 1 s')],
      after: { crashes: 1, countedExit: FINISHED, requeueAfterMs: 800, restarts: 0, lastTermination: OOM },
    },
    {
      name: 'the same OOM kill seen again (a level-triggered reconcile): no second event, waits what is left',
      kept: keep(limited, [c1], seen(limited, { crashes: 1 })), details: oomKilled, now: T0 + 3_600,
      steps: [], after: { crashes: 1, requeueAfterMs: 400, restarts: 0, lastTermination: OOM },
    },
    {
      name: 'its backoff passed: restarted, and the termination kept',
      kept: keep(limited, [c1], seen(limited, { crashes: 1 })), details: oomKilled, now: T0 + 4_100,
      steps: [
        { kind: 'start', containerId: 'c1' },
        { kind: 'log', level: 'info', message: 'container restarted', fields: { containerId: 'c1', exitCode: 137, restarts: 1, crashes: 1 } },
      ],
      after: { crashes: 1, requeueAfterMs: undefined, restarts: 1, lastTermination: OOM },
    },
    {
      name: 'running again: still tells it was OOM-killed',
      kept: keep(limited, [c1], seen(limited, { state: 'running', crashes: 1, restarts: 1 })), details: details(c1), now: T0 + 10_000,
      steps: [], after: { restarts: 1, lastTermination: OOM },
    },
    {
      name: 'restart "never": the OOMKilled event, without a restart',
      kept: keep(neverLimited, [container('c1', template(neverLimited).hash)]), details: oomKilled, now: T0 + 60_000,
      steps: [oomEvent('container killed: out of memory (limit 32Mi) (exit code 137)')],
      after: { crashes: 0, restarts: 0, requeueAfterMs: undefined, countedExit: FINISHED, lastTermination: OOM },
    },
    {
      name: 'restart "never", seen again: no second event',
      kept: keep(neverLimited, [container('c1', template(neverLimited).hash)], seen(neverLimited, {})), details: oomKilled, now: T0 + 90_000,
      steps: [], after: { restarts: 0, lastTermination: OOM },
    },
    {
      name: 'Docker setting OOMKilled after the exit was seen: the termination follows, the event is not repeated',
      kept: keep(limited, [c1], seen(limited, { crashes: 1, lastTermination: { ...OOM, reason: 'Error' } })), details: oomKilled, now: T0 + 3_500,
      steps: [], after: { lastTermination: OOM },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = planRestart(c.kept, c.details, undefined, c.now);
      assert.deepEqual(r.steps, c.steps);
      for (const [k, v] of Object.entries(c.after)) assert.deepEqual(r.kept[k as keyof Kept], v, k);
    });
  }
});

describe('planHealth', () => {
  const c1 = container('c1', template(checked).hash);
  const ready = replica(checked, { containerId: 'c1' });
  const unhealthy: HealthState = { status: 'unhealthy', failures: 2, lastError: 'tcp 172.17.0.5:80: refused' };
  const restart: Step[] = [{ kind: 'stop', containerId: 'c1', graceSeconds: 2 }, { kind: 'start', containerId: 'c1' }];
  const cases: { name: string; kept: Kept; details: ContainerDetails; health?: HealthState; steps: Step[]; restarts: number }[] = [
    {
      name: 'stopped: no longer probed',
      kept: keep(checked, [c1], ready), details: details(c1, { state: 'exited' }),
      steps: [{ kind: 'forgetProbe', containerId: 'c1' }], restarts: 0,
    },
    { name: 'healthy: nothing', kept: keep(checked, [c1], ready), details: details(c1), health: { status: 'healthy', failures: 0 }, steps: [], restarts: 0 },
    { name: 'starting: nothing', kept: keep(checked, [c1], ready), details: details(c1), health: { status: 'starting', failures: 0 }, steps: [], restarts: 0 },
    { name: 'no check: nothing', kept: keep(p, [container('c1', template(p).hash)]), details: details(c1), steps: [], restarts: 0 },
    {
      name: 'unhealthy and ready: out of the endpoints, drain, then restarted',
      kept: keep(checked, [c1], { ...ready, restarts: 1 }), details: details(c1), health: unhealthy,
      steps: [
        { kind: 'log', level: 'warn', message: 'container unhealthy; restarting', fields: { containerId: 'c1', error: unhealthy.lastError } },
        { kind: 'event', type: 'Warning', reason: 'Unhealthy', message: 'health check failed 2 times: tcp 172.17.0.5:80: refused; restarting' },
        { kind: 'forgetProbe', containerId: 'c1' },
        { kind: 'writeRecord', record: { ...ready, restarts: 1, ready: false, message: 'unhealthy (tcp 172.17.0.5:80: refused); restarting' } },
        { kind: 'drain' },
        ...restart,
      ],
      restarts: 2,
    },
    {
      name: 'unhealthy and not ready: restarted without a drain',
      kept: keep(checked, [c1], { ...ready, ready: false }), details: details(c1), health: { status: 'unhealthy', failures: 3 },
      steps: [
        { kind: 'log', level: 'warn', message: 'container unhealthy; restarting', fields: { containerId: 'c1', error: undefined } },
        { kind: 'event', type: 'Warning', reason: 'Unhealthy', message: 'health check failed 3 times: ; restarting' },
        { kind: 'forgetProbe', containerId: 'c1' },
        ...restart,
      ],
      restarts: 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = planHealth(c.kept, c.details, c.health);
      assert.deepEqual(r.steps, c.steps);
      assert.equal(r.kept.restarts, c.restarts);
    });
  }
});

describe('planServing', () => {
  const H = template(startFirst).hash;
  const TEMP = `${NAME}-${H}`;
  const fresh = container('new', H, 'running', TEMP);
  const old = container('old', 'old-hash');
  const oldPorts = { web: { containerPort: 80, hostPort: 32001, protocol: 'tcp' as const } };
  const serving = replica(startFirst, { containerId: 'old', ports: oldPorts });
  const checkedStartFirst = web({ update: { order: 'start-first' }, health: { tcp: 80 } });
  const C = template(checkedStartFirst).hash;
  const starting: HealthState = { status: 'starting', failures: 0 };
  const cases: { name: string; kept: Kept; details: ContainerDetails; health?: HealthState; steps: Step[]; after: Partial<Kept> }[] = [
    { name: 'no check, running: ready, nothing to do', kept: keep(p, [container('c1', template(p).hash)]), details: details(container('c1', '')), steps: [], after: { ready: true } },
    {
      name: 'a check still starting: not ready',
      kept: keep(checked, [container('c1', template(checked).hash)]), details: details(container('c1', '')), health: starting,
      steps: [], after: { ready: false, health: starting },
    },
    {
      name: 'not running: not ready',
      kept: keep(p, [container('c1', template(p).hash)]), details: details(container('c1', ''), { state: 'exited' }), steps: [], after: { ready: false },
    },
    {
      name: 'start-first, the new container ready: endpoints move to it, drain, the old one goes',
      kept: keep(startFirst, [fresh, old], serving), details: details(fresh, { hostPorts: { '80/tcp': 32002 } }),
      steps: [
        {
          kind: 'writeRecord',
          record: {
            app: 'app', name: 'web', replica: 0, node: 'h1', address: '10.0.0.1', revision: 1, templateHash: startFirst.templateHash,
            containerName: TEMP, containerId: 'new', state: 'running', restarts: 0, crashes: 0, startedAt: STARTED,
            ports: { web: { containerPort: 80, hostPort: 32002, protocol: 'tcp' } }, ready: true,
          },
        },
        { kind: 'drain' },
        { kind: 'remove', containers: [old], reason: 'replaced by a ready container (start-first)', graceSeconds: 2 },
        { kind: 'readRecord' },
      ],
      after: { serving: undefined, servingRecord: undefined, ready: true },
    },
    {
      name: 'start-first, the new container not ready: the record keeps the old one\'s endpoints',
      kept: keep(checkedStartFirst, [container('new', C, 'running', TEMP), old], serving), details: details(container('new', C, 'running', TEMP)), health: starting,
      steps: [], after: { serving: old, servingRecord: { containerId: 'old', ports: oldPorts }, ready: false },
    },
    {
      name: 'start-first, not ready, the record already about the new container: it keeps what serves',
      kept: keep(checkedStartFirst, [container('new', C, 'running', TEMP), old], replica(startFirst, { containerId: 'new', serving: { containerId: 'old', ports: oldPorts } })),
      details: details(container('new', C, 'running', TEMP)), health: starting,
      steps: [], after: { servingRecord: { containerId: 'old', ports: oldPorts } },
    },
    {
      name: 'a temporary name is given up once the container is alone',
      kept: keep(startFirst, [fresh]), details: details(fresh),
      steps: [{ kind: 'rename', containerId: 'new', name: NAME }], after: { ready: true },
    },
    {
      name: 'no rename while another container was listed (it is being removed)',
      kept: keep(startFirst, [fresh, container('old', 'old-hash', 'exited')]), details: details(fresh),
      steps: [], after: { serving: undefined },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = planServing(c.kept, c.details, c.health);
      assert.deepEqual(r.steps, c.steps);
      for (const [k, v] of Object.entries(c.after)) assert.deepEqual(r.kept[k as keyof Kept], v, k);
    });
  }
});

describe('replicaRecord', () => {
  const c1 = container('c1', template(p).hash);
  const limited = web({ resources: { memory: '32Mi' } });
  const cl = container('c1', template(limited).hash);
  const OOM = { reason: 'OOMKilled', exitCode: 137, finishedAt: FINISHED } as const;
  const base = {
    app: 'app', name: 'web', replica: 0, node: 'h1', address: '10.0.0.1', revision: 1, templateHash: p.templateHash,
    containerName: NAME, containerId: 'c1', restarts: 0, crashes: 0, startedAt: STARTED,
  };
  const cases: { name: string; kept: Kept; details: ContainerDetails; record: ReplicaRecord }[] = [
    {
      name: 'running and ready, with its published ports and health',
      kept: { ...keep(p, [c1]), ready: true, health: { status: 'healthy', failures: 0 } },
      details: details(c1, { hostPorts: { '80/tcp': 32768, '81/tcp': 1 } }),
      record: { ...base, state: 'running', ports: { web: { containerPort: 80, hostPort: 32768, protocol: 'tcp' } }, ready: true, health: { status: 'healthy', failures: 0 } },
    },
    {
      name: 'backing off a crash: CrashLoopBackOff, the exit counted, its last lines',
      kept: { ...keep(p, [c1]), ready: false, crashes: 2, restarts: 1, countedExit: FINISHED, lastLog: ['oops'], requeueAfterMs: 500 },
      details: details(c1, { state: 'exited', exitCode: 1 }),
      record: {
        ...base, state: 'CrashLoopBackOff', crashes: 2, restarts: 1, exitCode: 1, finishedAt: FINISHED, ports: {}, ready: false,
        lastLog: ['oops'], message: 'back-off restarting crashed container (exit code 1)',
      },
    },
    {
      name: 'exited for good: its exit as Docker reports it; no empty last lines',
      kept: { ...keep(p, [c1]), ready: false, lastLog: [] },
      details: details(c1, { state: 'exited', exitCode: 3 }),
      record: { ...base, state: 'exited', exitCode: 3, finishedAt: FINISHED, ports: {}, ready: false },
    },
    {
      name: 'backing off an OOM kill: OOMKilled with exit code 137, the limit, and how it ended',
      kept: { ...keep(limited, [cl]), ready: false, crashes: 1, countedExit: FINISHED, lastTermination: OOM, requeueAfterMs: 800 },
      details: details(c1, { state: 'exited', exitCode: 137, oomKilled: true }),
      record: {
        ...base, templateHash: limited.templateHash, state: 'OOMKilled', crashes: 1, exitCode: 137, finishedAt: FINISHED, ports: {}, ready: false,
        lastTermination: OOM, message: 'killed: out of memory (limit 32Mi); back-off restarting',
      },
    },
    {
      name: 'OOM-killed and not restarted (restart "never"): OOMKilled, not exited',
      kept: { ...keep(limited, [cl]), ready: false, countedExit: FINISHED, lastTermination: OOM },
      details: details(c1, { state: 'exited', exitCode: 137, oomKilled: true }),
      record: {
        ...base, templateHash: limited.templateHash, state: 'OOMKilled', exitCode: 137, finishedAt: FINISHED, ports: {}, ready: false,
        lastTermination: OOM, message: 'killed: out of memory (limit 32Mi)',
      },
    },
    {
      name: 'running again after an OOM kill: running, restarts counted, the last termination kept',
      kept: { ...keep(limited, [cl]), ready: true, crashes: 1, restarts: 1, countedExit: FINISHED, lastTermination: OOM },
      details: details(c1),
      record: { ...base, templateHash: limited.templateHash, state: 'running', crashes: 1, restarts: 1, finishedAt: FINISHED, ports: {}, ready: true, lastTermination: OOM },
    },
    {
      name: 'kept running while links are missing',
      kept: { ...keep(linked, [container('c1', 'x')]), ready: true },
      details: details(c1),
      record: {
        ...base, templateHash: linked.templateHash, state: 'running', ports: {}, ready: true,
        message: 'kept running; waiting for linked service(s): app/db, other/cache',
      },
    },
    {
      name: 'a start-first update in progress: the serving container and its ports',
      kept: { ...keep(p, [c1]), ready: false, servingRecord: { containerId: 'old', ports: {} } },
      details: details(c1),
      record: {
        ...base, state: 'running', ports: {}, ready: false, serving: { containerId: 'old', ports: {} },
        message: 'updating: the previous container serves until this one is ready',
      },
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(replicaRecord(c.kept, c.details), c.record));
});
