import { mkdirSync, writeFileSync } from 'node:fs';
import { ambassadorReport, benchAmbassador } from './ambassador.js';
import { benchSingleHost, singleHostReport } from './converge-single.js';

/** `npm run bench`: runs every benchmark and writes bench/results/report.md. */
async function main(): Promise<void> {
  const etcd = process.env.DOKKAA_BENCH_ETCD ?? 'http://127.0.0.1:2379';
  const docker = process.env.DOKKAA_BENCH_DOCKER ?? '/var/run/docker.sock';
  const runs = Number(process.env.DOKKAA_BENCH_RUNS ?? 15);
  const sections: string[] = [`# Dokkaa benchmarks`, '', `Run ${new Date().toISOString()} on ${process.platform}/${process.arch}, Node ${process.version}. Figures are from one run on a shared machine: compare ratios, not absolutes.`, ''];
  // `npm run bench -- ambassador` runs only the named parts and prints them (report.md is kept).
  const only = process.argv.slice(2);
  const wants = (part: string) => only.length === 0 || only.includes(part);
  const results: Record<string, unknown> = {};
  if (wants('single')) {
    const single = await benchSingleHost({ etcd, docker, runs });
    results.single = single;
    sections.push(singleHostReport(single));
    console.log(singleHostReport(single));
  }
  if (wants('ambassador')) {
    const ambassador = await benchAmbassador({
      transferMB: Number(process.env.DOKKAA_BENCH_TRANSFER_MB ?? 200),
      runs: Number(process.env.DOKKAA_BENCH_AMBASSADOR_RUNS ?? 9),
    });
    results.ambassador = ambassador;
    sections.push(ambassadorReport(ambassador));
    console.log(ambassadorReport(ambassador));
  }
  if (only.length > 0) return;
  const dir = new URL('../../bench/results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL('report.md', dir), sections.join('\n'));
  writeFileSync(new URL('results.json', dir), JSON.stringify(results, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
