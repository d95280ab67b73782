import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { ambassadorReport, ambassadorTargets, benchAmbassador } from './ambassador.js';
import { benchSingleHost, singleHostReport } from './converge-single.js';
import { benchConverge, convergeReport } from './converge-multi.js';
import { benchConvergeCold, convergeColdReport } from './converge-cold.js';
import { benchFailover, failoverReport } from './failover.js';
import { benchParallelism, parallelismReport } from './engine-parallelism.js';
import { log, withBenchLab, type BenchLab } from './lab-bench.js';
import { labClientConfig } from '../lab/index.js';
import { targetTable, type PartResult, type Target } from './report.js';
import { benchScale, scaleReport } from './scale.js';
import { benchScheduler, schedulerReport } from './scheduler-sim.js';
import { benchSteadyState, steadyReport } from './steady-state.js';
import { benchRouter, routerReport } from './router.js';

/**
 * `npm run bench`: runs every benchmark and writes bench/results/report.md (targets first,
 * then one section per benchmark), results.json and the SVG charts. Each benchmark is a
 * part: a function returning a PartResult (a Markdown section, its JSON, its targets and
 * charts); sections are appended in order. Parts that need several Docker hosts share one
 * lab (`dokkaa lab --name bench`, or DOKKAA_BENCH_LAB), brought up before the first and torn down after the last.
 *
 * `npm run bench -- converge failover` runs only the named parts and prints their sections
 * (report.md is kept).
 */

interface Part {
  name: string;
  /** Runs on the bench lab. */
  lab?: boolean;
  /** Only when named (`npm run bench -- NAME`), not in the full run. */
  explicit?: boolean;
  run: (lab: BenchLab | undefined) => Promise<PartResult>;
}

const env = (name: string, dflt: number) => Number(process.env[name] ?? dflt);

const PARTS: Part[] = [
  {
    // Hollow hosts against a real etcd of its own: no Docker, no lab (docs/scale.md).
    name: 'scale',
    run: async () =>
      scaleReport(
        await benchScale((process.env.DOKKAA_BENCH_SCALE_HOSTS ?? '1000').split(',').map(Number), {
          manifests: env('DOKKAA_BENCH_SCALE_MANIFESTS', 1000),
          ...(process.env.DOKKAA_BENCH_SCALE_MANIFESTS_PER_HOST ? { manifestsPerHost: Number(process.env.DOKKAA_BENCH_SCALE_MANIFESTS_PER_HOST) } : {}),
          replicas: env('DOKKAA_BENCH_SCALE_REPLICAS', 100),
          linkEvery: env('DOKKAA_BENCH_SCALE_LINK_EVERY', 10),
          workers: env('DOKKAA_BENCH_SCALE_WORKERS', 3),
          ttlSeconds: env('DOKKAA_BENCH_TTL', 10),
          killHosts: env('DOKKAA_BENCH_SCALE_KILL', 10),
          rollManifests: env('DOKKAA_BENCH_SCALE_ROLL', 100),
          rollParallelism: env('DOKKAA_BENCH_SCALE_ROLL_PARALLELISM', 1),
          steadyMs: env('DOKKAA_BENCH_STEADY_SECONDS', 30) * 1000,
          convergeTimeoutMs: env('DOKKAA_BENCH_SCALE_TIMEOUT_SECONDS', 300) * 1000,
          setupTimeoutMs: env('DOKKAA_BENCH_SCALE_SETUP_TIMEOUT_SECONDS', 300) * 1000,
          sharedWatches: process.env.DOKKAA_BENCH_SCALE_SHARED_WATCHES !== '0',
          quotaBytes: env('DOKKAA_BENCH_SCALE_QUOTA_BYTES', 8 * 2 ** 30),
          profile: process.env.DOKKAA_BENCH_SCALE_PROFILE === '1',
        }),
      ),
  },
  {
    name: 'single',
    run: async () => {
      const r = await benchSingleHost({
        etcd: process.env.DOKKAA_BENCH_ETCD ?? 'http://127.0.0.1:2379',
        docker: process.env.DOKKAA_BENCH_DOCKER ?? '/var/run/docker.sock',
        runs: env('DOKKAA_BENCH_RUNS', 15),
      });
      return { section: singleHostReport(r), json: r };
    },
  },
  {
    name: 'ambassador',
    run: async () => {
      const r = await benchAmbassador({ transferMB: env('DOKKAA_BENCH_TRANSFER_MB', 200), runs: env('DOKKAA_BENCH_AMBASSADOR_RUNS', 9) });
      return { section: ambassadorReport(r), json: r, targets: ambassadorTargets(r) };
    },
  },
  {
    name: 'converge',
    lab: true,
    run: async (lab) => {
      // A subset (e.g. `Dokkaa,floor`) for quicker side-by-side experiments; the report's target needs all three.
      const only = process.env.DOKKAA_BENCH_CONVERGE_SYSTEMS?.split(',').map((s) => s.trim().toLowerCase());
      const systems = [lab!.dokkaa, lab!.swarm, lab!.floor].filter((s) => !only || only.includes(s.name.toLowerCase()));
      const r = await benchConverge(lab!, {
        runs: env('DOKKAA_BENCH_LAB_RUNS', 3),
        scaleRuns: env('DOKKAA_BENCH_SCALE_RUNS', 3),
        scales: (process.env.DOKKAA_BENCH_SCALES ?? '1,10,30,100').split(',').map(Number),
        systems,
        trace: process.env.DOKKAA_BENCH_TRACE !== '0',
        extra: { system: lab!.swarm.byTag(), scales: (process.env.DOKKAA_BENCH_SWARM_TAG_SCALES ?? '10').split(',').filter(Boolean).map(Number) },
      });
      return convergeReport(r, systems.map((s) => s.name));
    },
  },
  {
    name: 'converge-cold',
    lab: true,
    run: async (lab) => convergeColdReport(await benchConvergeCold(lab!, {
      runs: env('DOKKAA_BENCH_COLD_RUNS', 5),
      replicas: env('DOKKAA_BENCH_COLD_REPLICAS', 30),
      imageMB: env('DOKKAA_BENCH_COLD_MB', 40),
    })),
  },
  {
    // Not in the default run: the measurement behind the node runner's worker limit (docs/design.md).
    name: 'parallelism',
    lab: true,
    explicit: true,
    run: async (lab) => parallelismReport(await benchParallelism(lab!, {
      levels: (process.env.DOKKAA_BENCH_PARALLELISM ?? '1,2,4,8,16,32').split(',').map(Number),
      perHost: env('DOKKAA_BENCH_PARALLELISM_PER_HOST', 32),
      runs: env('DOKKAA_BENCH_PARALLELISM_RUNS', 3),
    })),
  },
  {
    name: 'failover',
    lab: true,
    run: async (lab) => failoverReport(await benchFailover(lab!, { runs: env('DOKKAA_BENCH_FAILOVER_RUNS', 3), replicas: 9, systems: [lab!.dokkaa, lab!.swarm] })),
  },
  {
    name: 'steady',
    lab: true,
    run: async (lab) => {
      // Swarm's managers and workers would add their own load: it goes before this.
      await lab!.swarm.leave();
      return steadyReport(await benchSteadyState(lab!, { replicas: 100, windowMs: env('DOKKAA_BENCH_STEADY_SECONDS', 90) * 1000, settleMs: 15_000 }));
    },
  },
  {
    name: 'router',
    lab: true,
    run: async (lab) => {
      await lab!.swarm.leave();
      return routerReport(await benchRouter(lab!, { runs: env('DOKKAA_BENCH_ROUTER_RUNS', 3), seconds: env('DOKKAA_BENCH_ROUTER_SECONDS', 8) }));
    },
  },
  {
    name: 'scheduler',
    lab: true,
    run: async (lab) => {
      await lab!.swarm.leave();
      return schedulerReport(await benchScheduler({
        etcd: labClientConfig(lab!.state),
        hosts: (process.env.DOKKAA_BENCH_SCHED_HOSTS ?? '100,1000,5000').split(',').map(Number),
        manifests: env('DOKKAA_BENCH_SCHED_MANIFESTS', 1000),
        scale: env('DOKKAA_BENCH_SCHED_SCALE', 100),
      }));
    },
  },
];

async function main(): Promise<void> {
  const started = Date.now();
  const only = process.argv.slice(2);
  const unknown = only.filter((p) => !PARTS.some((x) => x.name === p));
  if (unknown.length) throw new Error(`unknown part(s) ${unknown.join(', ')}; parts: ${PARTS.map((p) => p.name).join(', ')}`);
  const wanted = PARTS.filter((p) => (only.length === 0 ? !p.explicit : only.includes(p.name)));
  const results: Record<string, unknown> = {};
  const done: { part: Part; result: PartResult }[] = [];
  const failed: string[] = [];
  // A part that fails is reported as such; the others still run and the report is written.
  const runPart = async (part: Part, lab?: BenchLab) => {
    const t0 = Date.now();
    log(`part ${part.name}: start`);
    let result: PartResult;
    try {
      result = await part.run(lab);
      log(`part ${part.name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (err) {
      failed.push(part.name);
      log(`part ${part.name}: FAILED after ${((Date.now() - t0) / 1000).toFixed(0)} s: ${(err as Error).stack ?? String(err)}`);
      result = { section: `## ${part.name}: failed\n\n\`\`\`\n${(err as Error).message}\n\`\`\`\n`, json: { error: (err as Error).message } };
    }
    results[part.name] = result.json;
    done.push({ part, result });
    if (only.length > 0) console.log(result.section);
  };
  for (const part of wanted.filter((p) => !p.lab)) await runPart(part);
  const labParts = wanted.filter((p) => p.lab);
  if (labParts.length) {
    // Swarm is set up on first use (converge, failover) and left before steady and scheduler.
    await withBenchLab({ nodes: 3, ttlSeconds: env('DOKKAA_BENCH_TTL', 10) }, async (lab) => {
      for (const part of labParts) await runPart(part, lab);
    });
  }
  if (only.length > 0) {
    if (failed.length) throw new Error(`part(s) failed: ${failed.join(', ')}`);
    return;
  }

  const targets: Target[] = done.flatMap((d) => d.result.targets ?? []);
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const dir = new URL('../../bench/results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  for (const d of done) for (const c of d.result.charts ?? []) writeFileSync(new URL(c.file, dir), c.svg);
  const report = [
    '# Dokkaa benchmarks',
    '',
    `Run ${new Date(started).toISOString()} on ${process.platform}/${process.arch} (${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB), Node ${process.version}; ` +
      `the whole run took ${minutes} min. Figures are from one run on a shared machine: compare ratios, not absolutes. ` +
      'The multi-host parts run on a lab of 3 Docker hosts on this machine (`dokkaa lab`: one network namespace and one dockerd each), brought up and torn down by the bench.',
    '',
    '## Targets',
    '',
    targetTable(targets),
    '',
    ...done.map((d) => d.result.section),
  ].join('\n');
  writeFileSync(new URL('report.md', dir), report);
  writeFileSync(new URL('results.json', dir), JSON.stringify({ startedAt: new Date(started).toISOString(), results }, null, 2));
  log(`wrote bench/results/report.md, results.json and ${done.flatMap((d) => d.result.charts ?? []).length} chart(s) in ${minutes} min`);
  if (failed.length) throw new Error(`part(s) failed: ${failed.join(', ')} (see report.md)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
