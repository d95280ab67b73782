import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeRecord, LinkRecord, StatusRecord } from '../../api/records.js';
import { manifestCase, manifestShape, type ManifestCase } from '../fuzz/manifest-inputs.js';
import { recordCases, type RecordCase } from '../fuzz/record-inputs.js';
import { DokkaaProcess, spawnAgent } from './support/dokkaa.js';
import { nginxManifest, waitFor, World } from './support/world.js';

/**
 * Issue 16's fuzzing of the boundary: generated and mutated manifests, and malformed
 * records under every prefix of api/keys.ts, written through the real etcd while a valid
 * manifest runs on the real engine. The controllers and the agent are child processes, so
 * "no process exits" is checked as such. DOKKAA_FUZZ_SEED replays a run, DOKKAA_FUZZ_RUNS
 * sets the number of manifests (docs/fuzzing.md).
 */
const SEED = process.env.DOKKAA_FUZZ_SEED ? Number(process.env.DOKKAA_FUZZ_SEED) : Date.now() % 2 ** 31;
const RUNS = process.env.DOKKAA_FUZZ_RUNS ? Number(process.env.DOKKAA_FUZZ_RUNS) : 1000;
/** Malformed records drawn per key builder, per prefix and per single key of Keys. */
const RECORDS_PER_TARGET = 12;
const BATCH = 50;

describe('fuzzing the etcd boundary: bad manifests and records never stop the processes', () => {
  const world = new World();
  const app = `fzv-${world.id}`;
  const lateApp = `fzn-${world.id}`;
  const fuzzApp = `fzm-${world.id}`;
  let controller: DokkaaProcess | undefined;
  let agent: DokkaaProcess | undefined;
  const processes = () => [controller!, agent!];
  /** The end of each process's output: what it logged before a failure. */
  const tails = () => processes().map((p) => `--- pid ${p.child.pid}:\n${p.output.join('').slice(-3000)}`).join('\n');
  const assertAlive = (when: string) => {
    for (const p of processes()) assert.ok(p.alive, `pid ${p.child.pid} exited ${when} (code ${p.child.exitCode}, signal ${p.child.signalCode})\n${tails()}`);
  };

  before(async () => {
    console.log(`fuzz-boundary: seed ${SEED} (replay: DOKKAA_FUZZ_SEED=${SEED} DOKKAA_FUZZ_RUNS=${RUNS})`);
    controller = DokkaaProcess.spawn('controller', world.config());
    agent = await spawnAgent(world);
  });
  after(async () => {
    await agent?.kill('SIGTERM');
    await controller?.kill('SIGTERM');
    // Their whole logs, to read after a failure (the error message holds only their ends).
    for (const [what, p] of [['controller', controller], ['agent', agent]] as const) {
      if (!p) continue;
      const file = join(tmpdir(), `dokkaa-fuzz-${world.id}-${what}.log`);
      writeFileSync(file, p.output.join(''));
      console.log(`fuzz-boundary: ${what} log in ${file}`);
    }
    await world.cleanup();
  });

  /** Puts `writes` in batches; returns each put's revision. */
  const putAll = async (writes: { key: Buffer | string; value: Buffer }[]): Promise<number[]> => {
    const revisions: number[] = [];
    for (let i = 0; i < writes.length; i += BATCH) {
      const done = await Promise.all(writes.slice(i, i + BATCH).map((w) => world.etcd.put(w.key).value(w.value)));
      revisions.push(...done.map((r) => Number(r.header.revision)));
    }
    return revisions;
  };
  const deleteAll = async (keys: (Buffer | string)[]) => {
    for (let i = 0; i < keys.length; i += BATCH) await Promise.all(keys.slice(i, i + BATCH).map((k) => world.etcd.delete().key(k)));
  };

  /** Why a case's status is not yet what its decoding says (undefined: it is). */
  const mismatch = (c: ManifestCase, revision: number, raw: string | undefined): string | undefined => {
    const s = decodeRecord(StatusRecord, raw);
    if (!s) return raw === undefined ? 'no status' : `status does not decode: ${raw.slice(0, 200)}`;
    if (s.observedRevision < revision) return `status of revision ${s.observedRevision}, written ${revision}`;
    if (c.expected.ok) return s.phase === 'Invalid' ? `valid, but Invalid: ${s.message.slice(0, 300)}` : undefined;
    const first = c.expected.errors[0]!;
    if (s.phase !== 'Invalid') return `phase ${s.phase}, expected Invalid with ${first.slice(0, 200)}`;
    if (s.errors?.[0] !== first || !s.message.includes(first)) return `first error ${JSON.stringify(s.errors?.[0]?.slice(0, 200))}, expected ${JSON.stringify(first.slice(0, 200))}`;
    return undefined;
  };

  // Bounds, not targets: a thousand manifests on a shared 2-CPU machine can take minutes.
  it('writes generated manifests and malformed records under every prefix: each status names its first error, nothing stops', { timeout: 1_500_000 }, async () => {
    const started = Date.now();
    await world.putManifest(app, 'web', nginxManifest({ scale: 2 }));
    const ids = await waitFor('the valid manifest Running with 2 containers', async () => {
      const running = await world.running(app, 'web');
      return (await world.status(app, 'web'))?.phase === 'Running' && running.length === 2 ? running.map((c) => c.Id).sort() : undefined;
    }, 60_000);

    const fuzzStarted = Date.now();
    const cases = fc.sample(manifestShape, { seed: SEED, numRuns: RUNS }).map((shape, i) => manifestCase(shape, i, fuzzApp));
    const ours = new Set([app, lateApp, ...cases.map((c) => c.app)]);
    // Not over the live records of the run: the node's, the leader's, the valid manifests' and the fuzzed manifests' keys.
    const protect = (key: string) => key === world.keys.node(world.node) || key === world.keys.leader || key.split('/').some((s) => ours.has(s));
    const records: RecordCase[] = recordCases(world.keys, world.node, RECORDS_PER_TARGET, SEED, protect);
    const sections = new Set(records.map((r) => r.section));

    // Manifests and records interleaved, so every informer sees bad input while manifests are reconciled.
    const writes = [...cases.map((c) => ({ key: world.keys.manifest(c.app, c.name), value: c.bytes, c })), ...records.map((r) => ({ key: r.key, value: r.value, c: undefined }))];
    const order = fc.sample(fc.shuffledSubarray(writes.map((_, i) => i), { minLength: writes.length }), { seed: SEED, numRuns: 1 })[0]!;
    const shuffled = order.map((i) => writes[i]!);
    const revisions = await putAll(shuffled);
    const revisionOf = new Map<ManifestCase, number>();
    shuffled.forEach((w, i) => w.c && revisionOf.set(w.c, revisions[i]!));
    const written = Date.now();
    assertAlive('while the fuzz was written');

    let open = cases;
    let why = new Map<ManifestCase, string>();
    await waitFor(`a status for each of ${cases.length} manifests`, async () => {
      assertAlive('while statuses were awaited');
      const statuses = await world.etcd.getAll().prefix(world.keys.statuses).strings();
      why = new Map(open.flatMap((c) => {
        const m = mismatch(c, revisionOf.get(c)!, statuses[world.keys.status(c.app, c.name)]);
        return m ? [[c, m] as const] : [];
      }));
      open = open.filter((c) => why.has(c));
      return open.length === 0;
    }, 900_000, 1000).catch((err: Error) => {
      const sample = open.slice(0, 10).map((c) => `#${c.index} ${c.kind} ${JSON.stringify(`${c.app}/${c.name}`)} ${c.bytes.toString().slice(0, 120)}: ${why.get(c)}`);
      throw new Error(`${err.message.split(';')[0]}: ${open.length} manifests wrong (seed ${SEED}):\n${sample.join('\n')}\n${tails()}`);
    });
    const judged = Date.now();

    assertAlive('after the statuses');
    assert.deepEqual((await world.running(app, 'web')).map((c) => c.Id).sort(), ids, 'the valid manifest keeps its containers');
    assert.equal((await world.status(app, 'web'))?.phase, 'Running');

    // Reconciling goes on: a new manifest with a service and a link to the first is placed, run, linked and registered.
    await world.putManifest(lateApp, 'web', nginxManifest({ services: { late: 80 }, links: [`${app}/nginx`] }));
    await waitFor('the manifest written after the fuzz Running, linked and registered', async () => {
      const link = decodeRecord(LinkRecord, await world.etcd.get(world.keys.link(lateApp, 'web')).string());
      const endpoints = await world.keysUnder(`${world.keys.nodeAppEndpoints(world.node, lateApp)}late/`);
      return (await world.status(lateApp, 'web'))?.phase === 'Running' && link?.missing.length === 0 && Object.keys(link.links).length === 1 && endpoints.length === 1;
    }, 240_000, 500);

    // Taking it all away is input too.
    await deleteAll(shuffled.map((w) => w.key));
    await waitFor('no status left of the fuzzed manifests', async () => {
      const left = await world.keysUnder(world.keys.statuses);
      return !left.some((k) => cases.some((c) => k === world.keys.status(c.app, c.name)));
    }, 240_000, 1000);
    assertAlive('after the fuzz was deleted');
    assert.deepEqual((await world.running(app, 'web')).map((c) => c.Id).sort(), ids, 'the valid manifest still has its containers');
    assert.equal((await world.running(lateApp, 'web')).length, 1);

    const valid = cases.filter((c) => c.expected.ok).length;
    const secs = (ms: number) => (ms / 1000).toFixed(1);
    console.log(
      `fuzz-boundary: seed ${SEED}: ${cases.length} manifests (${valid} valid, ${cases.length - valid} invalid) and ${records.length} malformed records under ${sections.size} sections ` +
        `generated and written in ${secs(written - fuzzStarted)} s, every status right ${secs(judged - written)} s later, ${secs(Date.now() - started)} s in all; processes alive, containers kept`,
    );
  });
});
