import { Command } from 'commander';
import { BadValueError } from '../src/config.js';
import { DEFAULT_CA_DAYS, DEFAULT_DAYS, DEFAULT_PKI_DIR, nodeCertName, pkiFiles, pkiInit, pkiIssue, pkiList } from '../src/pki/pki.js';
import { table } from '../src/table.js';

/** `dokkaa pki ...`: the certificates of TLS to etcd (src/pki/pki.ts), in files only: no etcd needed. */

export type PkiRequest =
  | { command: 'init'; dir: string; sans: string[]; days: number; caDays: number }
  | { command: 'agent'; dir: string; node: string; days: number }
  | { command: 'renew'; dir: string; name: string; sans: string[]; days: number }
  | { command: 'list'; dir: string; json: boolean };

function wholeDays(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || value.trim() === '') throw new BadValueError(`--${flag}: expected a whole number of days >= 1, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** The `pki` command tree; each subcommand hands its request to `parsed`. */
export function pkiCommand(parsed: (request: PkiRequest) => void): Command {
  const pki = new Command('pki').description('certificates for TLS to etcd: a cluster CA, etcd\'s server, the controllers, each agent, an admin');
  const sub = (name: string, description: string) =>
    pki.command(name).description(description).option('--dir <DIR>', `where the files are (mode 0700; keys 0600, certificates 0644)`, DEFAULT_PKI_DIR);
  const san = (v: string, before: string[] = []) => [...before, v];
  sub('init', 'make the CA, etcd-server, controller and admin certificates that are missing (existing files are kept)')
    .option('--etcd-san <IP|NAME>', "an address or name of etcd's server certificate, repeatable (127.0.0.1, localhost and etcd always)", san)
    .option('--days <N>', 'validity of the certificates', wholeDays('days'), DEFAULT_DAYS)
    .option('--ca-days <N>', "the CA's validity", wholeDays('ca-days'), DEFAULT_CA_DAYS)
    .action((o: { dir: string; etcdSan?: string[]; days: number; caDays: number }) => parsed({ command: 'init', dir: o.dir, sans: o.etcdSan ?? [], days: o.days, caDays: o.caDays }));
  sub('agent', "issue (or renew) NODE's agent certificate, CN node-NODE: copy node-NODE.crt, node-NODE.key and ca.crt to that host")
    .argument('<NODE>', 'the node name the agent runs as (--node)')
    .option('--days <N>', 'validity', wholeDays('days'), DEFAULT_DAYS)
    .action((node: string, o: { dir: string; days: number }) => parsed({ command: 'agent', dir: o.dir, node, days: o.days }));
  sub('renew', 'issue NAME again with a new key: etcd-server, controller, admin or node-NODE (see docs/security.md, Rotation)')
    .argument('<NAME>', 'the file name without .crt')
    .option('--etcd-san <IP|NAME>', "etcd-server only: its addresses and names (default: those of the certificate it replaces)", san)
    .option('--days <N>', 'validity', wholeDays('days'), DEFAULT_DAYS)
    .action((name: string, o: { dir: string; etcdSan?: string[]; days: number }) => parsed({ command: 'renew', dir: o.dir, name, sans: o.etcdSan ?? [], days: o.days }));
  sub('list', 'each certificate: file, CN, role, not-after and days left; expired ones flagged')
    .option('--json', 'print the rows')
    .action((o: { dir: string; json?: boolean }) => parsed({ command: 'list', dir: o.dir, json: !!o.json }));
  return pki;
}

/** Carries out a `dokkaa pki` request at `now`; returns what to print. */
export function runPki(request: PkiRequest, now: Date): string {
  switch (request.command) {
    case 'init': {
      const r = pkiInit({ dir: request.dir, sans: request.sans, days: request.days, caDays: request.caDays });
      const lines = [...r.made.map((n) => `made ${pkiFiles(request.dir, n).cert} and .key`), ...r.kept.map((n) => `kept ${pkiFiles(request.dir, n).cert}`)];
      if (r.kept.includes('etcd-server') && request.sans.length) lines.push(`note: --etcd-san ignored for the existing etcd-server.crt (dokkaa pki renew etcd-server --etcd-san ... replaces it)`);
      return lines.join('\n');
    }
    case 'agent':
      return `issued ${pkiIssue(request.dir, nodeCertName(request.node), { days: request.days })} (CN ${nodeCertName(request.node)})`;
    case 'renew':
      return `issued ${pkiIssue(request.dir, request.name, { days: request.days, sans: request.sans })}`;
    case 'list': {
      const rows = pkiList(request.dir, now);
      if (request.json) return JSON.stringify(rows, null, 2);
      return table(['FILE', 'CN', 'ROLE', 'NOT AFTER', 'DAYS LEFT'], rows.map((r) => [r.file, r.cn, r.role, r.notAfter, r.expired ? `EXPIRED ${-r.daysLeft} days ago` : String(r.daysLeft)]));
    }
  }
}
