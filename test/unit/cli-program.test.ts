import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { BadValueError, SETTINGS } from '../../src/config.js';
import { UsageError } from '../../cli/client-commands.js';
import { bashCompletion } from '../../cli/completion.js';
import { buildProgram, failure, HELP, parseCommandLine, type Invocation } from '../../cli/program.js';
import { LAB_USAGE } from '../../cli/lab-commands.js';
import { VERSION } from '../../src/version.js';

const BIN = fileURLToPath(new URL('../../../bin/dokkaa.js', import.meta.url));

/** Parses in this process as main.ts does: what would be printed, and the exit code if parsing ends it. */
function cli(...argv: string[]): { invocation?: Invocation; out: string; err: string; code?: number } {
  let out = '';
  let err = '';
  try {
    const invocation = parseCommandLine(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
    return { invocation, out, err };
  } catch (e) {
    const { code, message } = failure(e);
    return { out, err: err + (message ? `${message}\n` : ''), code };
  }
}

/** Every command of the tree with its path, e.g. ['lab', 'up']. */
function commands(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()], cmd: c }, ...commands(c, [...path, c.name()])]);
}

const program = buildProgram(() => undefined);
const leaves = commands(program).filter(({ cmd }) => cmd.commands.length === 0);

describe('the dokkaa command line', () => {
  it('refuses an unknown flag with exit code 2, naming it', () => {
    const r = cli('status', '--bogus');
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: unknown option '--bogus'\n\(see dokkaa status --help\)\n$/);
    assert.equal(r.out, '');
    assert.equal(cli('status', 'shop', '--log-level', 'debug').code, 2, 'a setting the command does not read');
    assert.equal(cli('lab', 'down', '--nodes', '3').code, 2);
  });

  it('refuses a flag without its value with exit code 2, naming it', () => {
    const r = cli('status', '--etcd');
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: option '--etcd <URL\[,URL\]>' argument missing\n/);
    assert.deepEqual(cli('agent', '--node', '--etcd', 'http://e:2379'), { out: '', err: 'error: --node: expected a value, got the flag --etcd\n', code: 2 });
    assert.equal(cli('lab', 'up', '--name').code, 2);
  });

  it('refuses an unknown command and excess arguments with exit code 2', () => {
    const r = cli('stauts');
    assert.equal(r.code, 2);
    assert.match(r.err, /^error: unknown command 'stauts'\n\(Did you mean status\?\)/);
    assert.match(cli('lab', 'reboot').err, /^error: unknown command 'reboot'/);
    assert.equal(cli('lab', 'reboot').code, 2);
    assert.match(cli('delete', 'shop/web', 'shop/db').err, /^error: too many arguments for 'delete'/);
    assert.equal(cli('rollout', 'stats', 'shop/web').code, 2);
  });

  it('refuses a bad number with exit code 2, naming the flag', () => {
    assert.deepEqual(cli('logs', 'shop/web', '--tail', 'ten'), { out: '', err: 'error: --tail: expected an integer >= 0, got "ten"\n', code: 2 });
    assert.deepEqual(cli('rollout', 'status', 'shop/web', '--timeout', '0'), { out: '', err: 'error: --timeout: expected a positive number, got "0"\n', code: 2 });
    assert.deepEqual(cli('lab', 'up', '--nodes', '2.5'), { out: '', err: 'error: --nodes: expected a positive integer, got "2.5"\n', code: 2 });
    assert.deepEqual(cli('lab', 'kill-controller', 'leader'), { out: '', err: 'error: --pid: expected a positive integer, got "leader"\n', code: 2 });
    assert.deepEqual(cli('lab', 'up', '--label', 'disk=ssd'), { out: '', err: 'error: --label: expected NODE:key=value, got "disk=ssd"\n', code: 2 });
  });

  it('ends other failures as before: a UsageError prints its message, anything else "error: ", both exit 1', () => {
    assert.deepEqual(failure(new UsageError('shop/web not found')), { code: 1, message: 'shop/web not found' });
    assert.deepEqual(failure(new Error('connect ECONNREFUSED')), { code: 1, message: 'error: connect ECONNREFUSED' });
    assert.deepEqual(failure(new BadValueError('--resync: expected a positive number, got "0"')), { code: 2, message: 'error: --resync: expected a positive number, got "0"' });
  });

  it('prints the overview for help, --help, -h and nothing at all; the version for version and --version', () => {
    for (const argv of [[], ['help'], ['--help'], ['-h']]) assert.deepEqual(cli(...argv), { out: `${HELP}\n`, err: '', code: 0 }, argv.join(' '));
    assert.deepEqual(cli('version').invocation, { command: 'print', text: VERSION });
    assert.equal(cli('--version').code, 0);
    for (const argv of [['lab'], ['lab', 'help'], ['lab', '--help']]) assert.deepEqual(cli(...argv), { out: `${LAB_USAGE}\n`, err: '', code: 0 }, argv.join(' '));
  });

  it("lists each command's own flags in its --help, with the settings' env vars", () => {
    for (const { path, cmd } of leaves) {
      const r = cli(...path, '--help');
      assert.equal(r.code, 0, path.join(' '));
      assert.equal(r.err, '');
      assert.match(r.out, new RegExp(`^Usage: dokkaa ${path.join(' ')} `), path.join(' '));
      for (const option of cmd.options) assert.ok(r.out.includes(option.long!), `${path.join(' ')} --help names ${option.long}`);
      // The lab's commands take no settings (its --log-level is the lab's agents').
      for (const s of path[0] === 'lab' ? [] : Object.values(SETTINGS)) {
        if (r.out.includes(`--${s.flag} <${s.value}>`) || r.out.includes(`--${s.flag} [${s.value}]`)) assert.ok(r.out.replace(/\s+/g, ' ').includes(`env ${s.env}`), `${path.join(' ')} --help: --${s.flag} and ${s.env}`);
      }
      if (path.length === 1) assert.equal(cli('help', ...path).out, r.out, `dokkaa help ${path.join(' ')}`);
    }
    const agent = cli('agent', '--help').out;
    for (const s of Object.values(SETTINGS)) assert.match(agent, new RegExp(`--${s.flag} [<[]`), `agent --help: --${s.flag}`);
  });

  it('parses what the e2e tests and the lab run', () => {
    const client = { etcd: 'http://10.0.0.1:2379', prefix: '/t1' };
    const tail = ['--etcd', client.etcd, '--prefix', client.prefix];
    assert.deepEqual(cli('apply', '-f', 'nginx.json', '--app', 'shop', ...tail).invocation, { command: 'apply', flags: client, options: { file: 'nginx.json', app: 'shop', name: undefined } });
    assert.deepEqual(cli('apply', '--file=x.json', '--app', 'shop', '--name', 'web').invocation, { command: 'apply', flags: {}, options: { file: 'x.json', app: 'shop', name: 'web' } });
    assert.deepEqual(cli('status', 'shop/web', '--json', ...tail).invocation, { command: 'status', flags: client, target: 'shop/web', options: { json: true } });
    assert.deepEqual(cli('status').invocation, { command: 'status', flags: {}, target: undefined, options: { json: false } });
    assert.deepEqual(cli('nodes', ...tail).invocation, { command: 'nodes', flags: client, options: { json: false } });
    assert.deepEqual(cli('describe', 'shop/web', ...tail).invocation, { command: 'describe', flags: client, target: 'shop/web' });
    assert.deepEqual(cli('delete', 'shop/web').invocation, { command: 'delete', flags: {}, target: 'shop/web', options: { purge: false } });
    assert.deepEqual(cli('delete', 'shop/web', '--purge').invocation, { command: 'delete', flags: {}, target: 'shop/web', options: { purge: true } });
    assert.deepEqual(cli('volumes', 'shop', '--json').invocation, { command: 'volumes', flags: {}, target: 'shop', options: { json: true } });
    assert.deepEqual(cli('volume', 'rm', 'shop/db/1/data', '--node', 'n2').invocation, { command: 'volume rm', flags: {}, target: 'shop/db/1/data', options: { node: 'n2' } });
    assert.deepEqual(cli('rollback', 'shop/web').invocation, { command: 'rollback', flags: {}, target: 'shop/web' });
    assert.deepEqual(cli('logs', 'shop/web/0', ...tail).invocation, { command: 'logs', flags: client, target: 'shop/web/0', options: { follow: false, tail: 100 } });
    assert.deepEqual(cli('logs', '-f', 'shop/web', '--tail', '5').invocation, { command: 'logs', flags: {}, target: 'shop/web', options: { follow: true, tail: 5 } });
    assert.deepEqual(cli('logs', 'shop/web', '--follow').invocation, { command: 'logs', flags: {}, target: 'shop/web', options: { follow: true, tail: 100 } });
    assert.deepEqual(cli('rollout', 'status', 'shop/web').invocation, { command: 'rollout status', flags: {}, target: 'shop/web', options: { timeoutSeconds: 600 } });
    assert.deepEqual(cli('rollout', 'status', 'shop/web', '--timeout', '30').invocation, { command: 'rollout status', flags: {}, target: 'shop/web', options: { timeoutSeconds: 30 } });
    assert.deepEqual(cli('rollout', 'restart', 'shop/web', ...tail).invocation, { command: 'rollout restart', flags: client, target: 'shop/web' });
    assert.deepEqual(cli('pull', 'shop/web').invocation, { command: 'pull', flags: {}, target: 'shop/web', options: { timeoutSeconds: 600 } });
    assert.deepEqual(cli('pull', 'shop/web', '--timeout', '45').invocation, { command: 'pull', flags: {}, target: 'shop/web', options: { timeoutSeconds: 45 } });
    // As the lab and test/e2e/support start agents and controllers.
    assert.deepEqual(cli('agent', '--etcd', client.etcd, '--docker', 'unix:///run/n1/docker.sock', '--node', 'n1', '--address', '10.77.0.11', '--lease-ttl', '4', '--prefix', '/dokkaa', '--log-level', 'info', '--label', 'disk=ssd', '--label', 'zone=a').invocation, {
      command: 'agent',
      flags: { etcd: client.etcd, docker: 'unix:///run/n1/docker.sock', node: 'n1', address: '10.77.0.11', leaseTtl: '4', prefix: '/dokkaa', logLevel: 'info', label: ['disk=ssd', 'zone=a'] },
    });
    assert.deepEqual(cli('controller', '--etcd', client.etcd, '--prefix', '/dokkaa', '--lease-ttl', '4', '--log-level', 'info', '--docker', 'unix:///x', '--node', 'h', '--resync', '0.5').invocation, {
      command: 'controller',
      flags: { etcd: client.etcd, prefix: '/dokkaa', leaseTtl: '4', logLevel: 'info', docker: 'unix:///x', node: 'h', resync: '0.5' },
    });
    assert.deepEqual(cli('up').invocation, { command: 'up', flags: {} });
    assert.deepEqual(cli('agent', '--fence', '--node', 'n1').invocation, { command: 'agent', flags: { fence: 'true', node: 'n1' } }, 'a bare --fence, as before');
    assert.deepEqual(cli('agent', '--fence', 'false').invocation, { command: 'agent', flags: { fence: 'false' } });
    // Missing or malformed arguments are still the commands' to report (exit 1, as before).
    assert.deepEqual(cli('delete').invocation, { command: 'delete', flags: {}, target: undefined, options: { purge: false } });
    assert.deepEqual(cli('apply', '--app', 'shop').invocation, { command: 'apply', flags: {}, options: { file: undefined, app: 'shop', name: undefined } });
  });

  it('parses the router, cert and routes commands', () => {
    const client = { etcd: 'http://10.0.0.1:2379', prefix: '/t1' };
    const tail = ['--etcd', client.etcd, '--prefix', client.prefix];
    assert.deepEqual(cli('routes', ...tail).invocation, { command: 'routes', flags: client, options: { json: false } });
    assert.deepEqual(cli('routes', '--json').invocation, { command: 'routes', flags: {}, options: { json: true } });
    assert.deepEqual(cli('router', 'set', '--domain', 'Apps.Example.com', ...tail).invocation, { command: 'router set', flags: client, options: { domain: 'apps.example.com' } });
    assert.deepEqual(cli('router', 'show').invocation, { command: 'router show', flags: {} });
    assert.deepEqual(cli('cert', 'add', 'Shop.Example.com', '--cert', 'c.pem', '--key', 'k.pem', ...tail).invocation, {
      command: 'cert add', flags: client, host: 'shop.example.com', options: { cert: 'c.pem', key: 'k.pem' },
    });
    assert.deepEqual(cli('cert', 'add', '--key=k.pem', '*.example.org', '--cert', 'c.pem').invocation, { command: 'cert add', flags: {}, host: '*.example.org', options: { cert: 'c.pem', key: 'k.pem' } });
    assert.deepEqual(cli('cert', 'list', '--json').invocation, { command: 'cert list', flags: {}, options: { json: true } });
    assert.deepEqual(cli('cert', 'rm', 'shop.example.com').invocation, { command: 'cert rm', flags: {}, host: 'shop.example.com' });
  });

  it('refuses a bad domain, host or missing cert flag with exit code 2, before anything is read or written', () => {
    assert.deepEqual(cli('router', 'set', '--domain', 'not_a_name'), { out: '', err: 'error: --domain: expected a DNS name (labels of a-z, 0-9 and "-" joined by dots), got "not_a_name"\n', code: 2 });
    assert.equal(cli('router', 'set', '--domain', '*.example.com').code, 2, 'a domain is no wildcard');
    assert.equal(cli('router', 'set', '--domain', 'local').code, 2, 'one label');
    assert.match(cli('router', 'set').err, /^error: required option '--domain <D>' not specified\n\(see dokkaa router set --help\)\n$/);
    assert.deepEqual(cli('cert', 'add', 'bad host', '--cert', 'c', '--key', 'k'), {
      out: '', err: 'error: HOST: expected a DNS name (labels of a-z, 0-9 and "-" joined by dots; *.name for every name one label under name), got "bad host"\n', code: 2,
    });
    assert.match(cli('cert', 'add', 'shop.example.com', '--cert', 'c.pem').err, /^error: required option '--key <FILE>' not specified/);
    assert.equal(cli('cert', 'add', '--cert', 'c', '--key', 'k').code, 2);
    assert.match(cli('cert', 'rm').err, /^error: missing required argument 'HOST'/);
    assert.equal(cli('cert', 'rm', 'a.example.com', 'b.example.com').code, 2);
    assert.equal(cli('routes', 'shop').code, 2);
  });

  it('parses the lab subcommands as before', () => {
    const lab = (...argv: string[]) => {
      const r = cli('lab', ...argv);
      assert.equal(r.code, undefined, `${argv.join(' ')}: ${r.err}`);
      assert.ok(r.invocation?.command === 'lab');
      return r.invocation.request;
    };
    assert.deepEqual(lab('up', '--nodes', '3', '--controllers', '2', '--ttl', '4', '--label', 'n1:disk=ssd', '--label', 'n2:zone=b', '--log-level', 'debug'), {
      command: 'up',
      options: { name: 'lab', nodes: 3, controllers: 2, ttlSeconds: 4, logLevel: 'debug', labels: { n1: { disk: 'ssd' }, n2: { zone: 'b' } } },
    });
    assert.deepEqual(lab('up', '--name', 'bench'), { command: 'up', options: { name: 'bench' } });
    assert.deepEqual(lab('down'), { command: 'down', name: 'lab' });
    assert.deepEqual(lab('status', '--json', '--name=bench'), { command: 'status', name: 'bench', json: true });
    assert.deepEqual(lab('status'), { command: 'status', name: 'lab', json: false });
    for (const command of ['kill-node', 'restore-node', 'partition', 'heal'] as const) {
      assert.deepEqual(lab(command, 'n2'), { command, name: 'lab', node: 'n2' });
      assert.deepEqual(lab(command, '--name', 'bench', 'n3'), { command, name: 'bench', node: 'n3' });
      assert.deepEqual(lab(command), { command, name: 'lab', node: undefined }, 'reported when it runs, as before');
    }
    assert.deepEqual(lab('kill-controller', '4242'), { command: 'kill-controller', name: 'lab', pid: 4242 });
  });

  it('parses the etcd cluster of a lab: --etcd-members and the member faults', () => {
    const lab = (...argv: string[]) => cli('lab', ...argv).invocation;
    assert.deepEqual(lab('up', '--etcd-members', '3'), { command: 'lab', request: { command: 'up', options: { name: 'lab', etcdMembers: 3 } } });
    assert.deepEqual(cli('lab', 'up', '--etcd-members', 'three'), { out: '', err: 'error: --etcd-members: expected a positive integer, got "three"\n', code: 2 });
    assert.deepEqual(lab('kill-etcd-member', 'leader', '--name', 'ha'), { command: 'lab', request: { command: 'kill-etcd-member', name: 'ha', member: 'leader' } });
    assert.deepEqual(lab('kill-etcd-member', '2'), { command: 'lab', request: { command: 'kill-etcd-member', name: 'lab', member: 2 } });
    assert.deepEqual(cli('lab', 'kill-etcd-member', 'first'), { out: '', err: 'error: --member: expected a positive integer, got "first"\n', code: 2 });
    assert.deepEqual(lab('restore-etcd-member'), { command: 'lab', request: { command: 'restore-etcd-member', name: 'lab' } });
  });

  it('parses host sizes for lab up and lab add-host', () => {
    const lab = (...argv: string[]) => cli('lab', ...argv).invocation;
    assert.deepEqual(lab('up', '--nodes', '3', '--host-capacity', 'n1=1Gi:1,n2=2Gi:2', '--host-capacity', 'n3=4Gi'), {
      command: 'lab',
      request: { command: 'up', options: { name: 'lab', nodes: 3, capacities: { n1: { memory: '1Gi', cpus: 1 }, n2: { memory: '2Gi', cpus: 2 }, n3: { memory: '4Gi' } } } },
    });
    assert.deepEqual(lab('add-host', '--name', 'capl', '--capacity', '8Gi:4', '--label', 'zone=b', '--label', 'disk=ssd'), {
      command: 'lab',
      request: { command: 'add-host', options: { name: 'capl', capacity: { memory: '8Gi', cpus: 4 }, labels: { zone: 'b', disk: 'ssd' } } },
    });
    assert.deepEqual(lab('add-host'), { command: 'lab', request: { command: 'add-host', options: { name: 'lab' } } });
    assert.deepEqual(cli('lab', 'up', '--host-capacity', 'n1=1GB:1'), {
      out: '', err: 'error: --host-capacity n1: expected a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G), got "1GB"\n', code: 2,
    });
    assert.deepEqual(cli('lab', 'add-host', '--capacity', '2Gi:0'), { out: '', err: 'error: --capacity: expected a positive number of CPUs, got 0\n', code: 2 });
    assert.deepEqual(cli('lab', 'up', '--host-capacity', '1Gi:1'), { out: '', err: 'error: --host-capacity: expected NODE=MEMORY:CPUS[,NODE=MEMORY:CPUS...], got "1Gi:1"\n', code: 2 });
    assert.deepEqual(cli('lab', 'add-host', '--label', 'zone'), { out: '', err: 'error: --label: expected key=value, got "zone"\n', code: 2 });
  });
});

describe('dokkaa completion', () => {
  const script = bashCompletion(program);
  /** What the script completes for a command line whose last word is being typed. */
  const complete = (...words: string[]) =>
    execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(dokkaa "$@"); COMP_CWORD=$#; _dokkaa; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', ...words], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);

  it('is printed by `dokkaa completion` and names every command and flag', () => {
    const printed = cli('completion').invocation;
    assert.deepEqual(printed, { command: 'print', text: script });
    for (const { path, cmd } of commands(program)) {
      assert.ok(script.includes(`'${path.join(' ')}')`), `names ${path.join(' ')}`);
      for (const option of cmd.options) assert.ok(script.includes(option.long!), `${path.join(' ')}: ${option.long}`);
    }
  });

  it('completes commands, subcommands and flags in bash', () => {
    assert.deepEqual(complete('st'), ['status']);
    assert.deepEqual(complete('lab', 'kill-'), ['kill-node', 'kill-controller', 'kill-etcd-member']);
    assert.deepEqual(complete('rollout', ''), ['status', 'restart', 'help']);
    assert.deepEqual(complete('rollout', 'status', 'shop/web', '--t'), ['--timeout']);
    assert.deepEqual(complete('lab', 'status', '--'), ['--name', '--json', '--help']);
    assert.deepEqual(complete('agent', '--lease-ttl', '4', '--la'), ['--label']);
    assert.deepEqual(complete('help', 'dele'), ['delete']);
    assert.deepEqual(complete('cert', ''), ['add', 'list', 'rm', 'help']);
    assert.deepEqual(complete('router', 'set', '--d'), ['--domain']);
    assert.deepEqual(complete('cert', 'add', 'shop.example.com', '--'), ['--cert', '--key', '--etcd', '--etcd-ca', '--etcd-cert', '--etcd-key', '--prefix', '--help']);
    assert.deepEqual(complete('rou'), ['routes', 'router', 'rollout'].filter((c) => c.startsWith('rou')));
    assert.deepEqual(complete('status', 's'), [], 'an argument: bash falls back to file names');
  });
});

describe('the dokkaa binary', () => {
  const run = async (...argv: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...argv]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('exits 2 on a bad flag, before it reaches etcd', async () => {
    assert.deepEqual(await run('status', '--bogus'), { code: 2, stdout: '', stderr: "error: unknown option '--bogus'\n(see dokkaa status --help)\n" });
    assert.deepEqual(await run('agent', '--lease-ttl', 'ten'), { code: 2, stdout: '', stderr: 'error: --lease-ttl: expected a positive number, got "ten"\n' });
  });

  it('exits 0 after help', async () => {
    const r = await run('status', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--etcd <URL\[,URL\]>/);
  });
});
