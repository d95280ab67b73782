import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { backoffDelay, sleep, type Clock, type TimerHandle } from '../../src/clock.js';
import { errorField, type Logger } from '../../src/logging.js';
import { crtList } from './haproxy-config.js';
import { planServers, serverKey, splitServers, type ServerLine, type ServerPlan } from './haproxy-servers.js';

const run = promisify(execFile);

/** What haproxy serves: its config text and the certificates it names (PEM chain + key per host). */
export interface HaproxyFiles {
  config: string;
  certs: readonly { host: string; pem: string }[];
}

/** Where one router's files live in its runtime directory (the config names them). */
export class HaproxyPaths {
  constructor(readonly dir: string) {}
  get config(): string {
    return join(this.dir, 'haproxy.cfg');
  }
  get crtList(): string {
    return join(this.dir, 'crt-list');
  }
  get statsSocket(): string {
    return join(this.dir, 'stats.sock');
  }
  get masterSocket(): string {
    return join(this.dir, 'master.sock');
  }
  get pidFile(): string {
    return join(this.dir, 'haproxy.pid');
  }
  /** `<host>.pem`; a wildcard's `*` becomes `_` (not a DNS character, so no name collides). */
  cert(host: string): string {
    return join(this.dir, `${host.replace(/^\*\./, '_.')}.pem`);
  }
}

export interface HaproxyProcessOptions {
  paths: HaproxyPaths;
  clock: Clock;
  log: Logger;
  /** The program (tests may point elsewhere). */
  binary?: string;
  /** How long a start may take before it counts as failed. */
  startTimeoutMs?: number;
}

/** A start or a restart ran at least this long: the next crash backs off from the base delay again. */
const STABLE_MS = 10_000;
/** How often a server in maintenance whose connections kept it is tried for deletion again. */
export const RETIRED_SWEEP_MS = 2_000;

/** How an apply took effect. */
export type Applied = 'started' | 'reloaded' | 'servers';

/**
 * One haproxy in master-worker mode (`haproxy -W -S <master socket> -f <cfg>`), supervised.
 *
 * - `apply` writes the files (certificates mode 0600 as `<host>.pem`, the crt-list, the config).
 *   If only servers changed (haproxy-servers.ts), the running worker gets them through the
 *   runtime API: new ones added, gone ones put in maintenance (their requests in flight
 *   finish) and deleted once their connections closed. Otherwise `haproxy -c` checks the
 *   files, and haproxy is started, or reloaded through the master CLI (hitless: the old
 *   workers finish their connections, bounded by hard-stop-after). It resolves once haproxy
 *   runs the new config; it rejects (the running haproxy keeping the previous one) if haproxy
 *   refuses it or does not start. A runtime change that fails falls back to the reload.
 * - If haproxy dies unasked it is started again with capped backoff (0.5 s doubling to
 *   30 s), its files rewritten from the last applied state (never a stale file on disk).
 * - `stop` ends it (and its workers), stops supervising and removes the directory.
 * haproxy is started with a parent-death signal, so it does not outlive a killed agent; a
 * haproxy of an earlier agent found through the pid file is stopped before starting.
 * Calls are serialized: one apply, restart or stop at a time.
 */
export class HaproxyProcess {
  private readonly paths: HaproxyPaths;
  private readonly log: Logger;
  private child: ChildProcess | undefined;
  private applied: HaproxyFiles | undefined;
  private stopped = true;
  private attempt = 0;
  private startedAt = 0;
  private restartTimer: TimerHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stderrTail: string[] = [];
  /** Servers put in maintenance and not deleted yet (connections still open), by key. */
  private readonly retiring = new Map<string, ServerLine>();
  private sweepTimer: TimerHandle | undefined;

  constructor(private readonly opts: HaproxyProcessOptions) {
    this.paths = opts.paths;
    this.log = opts.log;
  }

  /** The running master's pid, if any. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  apply(files: HaproxyFiles): Promise<Applied> {
    return this.serialized(async () => {
      this.stopped = false;
      const plan = this.serverPlan(files);
      // Even for servers alone: a restart or a later reload starts from what runs now.
      await this.write(files);
      if (plan) {
        try {
          await this.changeServers(plan);
          this.applied = files;
          return 'servers';
        } catch (err) {
          this.log.warn('haproxy servers not changed at runtime; reloading', { error: errorField(err) });
        }
      }
      await this.check();
      this.applied = files;
      const running = this.pid !== undefined;
      if (running) await this.reload();
      else {
        this.clearRestart();
        await this.start();
      }
      // A new worker has the config's servers and nothing else.
      this.clearRetiring();
      return running ? 'reloaded' : 'started';
    });
  }

  /** The runtime changes from what runs to `files`, if servers are all that changed. */
  private serverPlan(files: HaproxyFiles): ServerPlan | undefined {
    const applied = this.applied;
    if (!applied || this.pid === undefined || JSON.stringify(applied.certs) !== JSON.stringify(files.certs)) return undefined;
    const [before, after] = [splitServers(applied.config), splitServers(files.config)];
    return before.skeleton === after.skeleton ? planServers(before.servers, after.servers, this.retiring) : undefined;
  }

  /** New servers first, so a backend swapping its servers never has none. */
  private async changeServers(plan: ServerPlan): Promise<void> {
    for (const s of plan.add) {
      await this.runtime(`add server ${serverKey(s)} ${s.spec}`, /New server registered/);
      await this.runtime(`enable server ${serverKey(s)}`);
    }
    for (const s of plan.revive) {
      await this.runtime(`set server ${serverKey(s)} state ready`);
      this.retiring.delete(serverKey(s));
    }
    for (const s of plan.retire) {
      await this.runtime(`set server ${serverKey(s)} state maint`);
      this.retiring.set(serverKey(s), s);
    }
    await this.deleteRetired();
  }

  /** Deletes the retiring servers whose connections are closed; the others are tried again later. */
  private async deleteRetired(): Promise<void> {
    for (const key of [...this.retiring.keys()]) {
      const answer = await cliCommand(this.paths.statsSocket, `del server ${key}`);
      if (/Server deleted|No such server/i.test(answer)) this.retiring.delete(key);
    }
    if (this.retiring.size === 0 || this.sweepTimer !== undefined) return;
    this.sweepTimer = this.opts.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      this.serialized(async () => {
        if (this.pid !== undefined && this.retiring.size) await this.deleteRetired();
      }).catch((err: unknown) => this.log.warn('retired haproxy servers not deleted', { error: errorField(err) }));
    }, RETIRED_SWEEP_MS);
  }

  private clearRetiring(): void {
    this.retiring.clear();
    if (this.sweepTimer !== undefined) this.opts.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** One runtime API command; its answer must match `expect` (by default: say nothing). */
  private async runtime(command: string, expect?: RegExp): Promise<void> {
    const answer = (await cliCommand(this.paths.statsSocket, command)).trim();
    if (expect ? !expect.test(answer) : answer !== '') throw new Error(`${command}: ${answer || 'no answer'}`);
  }

  stop(): Promise<void> {
    return this.serialized(async () => {
      this.stopped = true;
      this.clearRestart();
      this.clearRetiring();
      const child = this.child;
      this.child = undefined;
      if (child) await terminate(child, this.opts.clock);
      // The private keys do not outlive the router; a start writes every file again.
      await rm(this.paths.dir, { recursive: true, force: true });
    });
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private clearRestart(): void {
    if (this.restartTimer !== undefined) this.opts.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  private async write(files: HaproxyFiles): Promise<void> {
    await mkdir(this.paths.dir, { recursive: true, mode: 0o700 });
    const wanted = new Set<string>();
    for (const c of files.certs) {
      const file = this.paths.cert(c.host);
      wanted.add(file);
      await writeAtomically(file, c.pem, 0o600);
    }
    await writeAtomically(this.paths.crtList, crtList(files.certs.map((c) => ({ host: c.host, file: this.paths.cert(c.host) }))), 0o600);
    // Certificates no longer served: their keys should not stay on disk.
    for (const name of await readdir(this.paths.dir)) {
      const file = join(this.paths.dir, name);
      if (name.endsWith('.pem') && !wanted.has(file)) await rm(file, { force: true });
    }
    await writeAtomically(this.paths.config, files.config, 0o600);
  }

  private async check(): Promise<void> {
    try {
      await run(this.opts.binary ?? 'haproxy', ['-c', '-f', this.paths.config]);
    } catch (err) {
      const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
      throw new Error(stderr ? `haproxy refused the config: ${stderr}` : `haproxy -c could not run: ${errorField(err).message}`);
    }
  }

  private async start(): Promise<void> {
    await this.stopStale();
    this.stderrTail = [];
    // setpriv: haproxy gets SIGTERM when the agent dies, so a killed agent leaves no router behind.
    const child = spawn('setpriv', ['--pdeathsig', 'TERM', this.opts.binary ?? 'haproxy', '-W', '-S', `${this.paths.masterSocket},mode,600`, '-f', this.paths.config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => this.onStderr(text));
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
      // Not run at all (no exit follows): supervise as if it had exited.
      if (child.pid === undefined) this.onExit(child, null, null);
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    this.startedAt = this.opts.clock.now();
    if (child.pid !== undefined) await writeFile(this.paths.pidFile, `${child.pid}\n`);
    const deadline = this.opts.clock.now() + (this.opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (spawnError && child.pid === undefined) throw new Error(`haproxy could not be run: ${spawnError.message}`);
      if (this.child !== child || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`haproxy exited at start: ${this.stderrTail.slice(-5).join(' | ') || 'no output'}`);
      }
      const procs = await this.showProc().catch(() => undefined);
      if (procs && procs.workers > 0) break;
      if (this.opts.clock.now() > deadline) {
        await terminate(child, this.opts.clock);
        throw new Error(`haproxy did not start within ${this.opts.startTimeoutMs ?? 10_000} ms: ${this.stderrTail.slice(-5).join(' | ') || 'no output'}`);
      }
      await sleep(this.opts.clock, 50);
    }
    this.log.info('haproxy started', { pid: child.pid, dir: this.paths.dir });
  }

  /** Reloads through the master CLI and waits until the master has re-read the config. */
  private async reload(): Promise<void> {
    const before = await this.showProc();
    await cliCommand(this.paths.masterSocket, 'reload');
    const deadline = this.opts.clock.now() + (this.opts.startTimeoutMs ?? 10_000);
    for (;;) {
      const now = await this.showProc().catch(() => undefined);
      if (now && now.reloads > before.reloads) {
        if (now.failed > before.failed) throw new Error(`haproxy could not load the new config: ${this.stderrTail.slice(-5).join(' | ')}`);
        if (now.workers > 0) break;
      }
      if (this.opts.clock.now() > deadline) throw new Error('haproxy did not confirm the reload');
      await sleep(this.opts.clock, 50);
    }
    this.log.info('haproxy reloaded', { pid: this.child?.pid });
  }

  private async showProc(): Promise<{ reloads: number; failed: number; workers: number }> {
    const text = await cliCommand(this.paths.masterSocket, 'show proc');
    const master = /^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]/m.exec(text);
    if (!master) throw new Error(`unexpected show proc output: ${text.slice(0, 200)}`);
    const current = text.split('# workers')[1]?.split('#')[0] ?? '';
    return { reloads: Number(master[1]), failed: Number(master[2]), workers: [...current.matchAll(/^\d+\s+worker\s/gm)].length };
  }

  private onStderr(text: string): void {
    for (const line of text.split('\n').filter((l) => l.trim())) {
      this.stderrTail = [...this.stderrTail.slice(-19), line];
      // Not the lines of an ordinary reload or stop (old proxies stopping, old workers exiting).
      const routine = this.stopped || /Proxy \S+ stopped|Former worker .* exited with code 0/.test(line);
      if (/^\[(ALERT|WARNING)\]/.test(line) && !routine) this.log.warn('haproxy says', { line });
      else this.log.debug('haproxy says', { line });
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (this.stopped) return;
    if (this.opts.clock.now() - this.startedAt >= STABLE_MS) this.attempt = 0;
    this.log.warn('haproxy exited; restarting', { code, signal, output: this.stderrTail.slice(-3) });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.restartTimer !== undefined || this.stopped) return;
    const delay = backoffDelay(this.attempt++, 500, 30_000);
    this.log.info('haproxy restart scheduled', { restartInMs: delay, attempt: this.attempt });
    this.restartTimer = this.opts.clock.setTimeout(() => {
      this.restartTimer = undefined;
      this.serialized(() => this.restart()).catch((err: unknown) => {
        this.log.error('haproxy restart failed', { error: errorField(err) });
        // A start that failed before haproxy ran (no exit to tell): try again all the same.
        if (this.child === undefined) this.scheduleRestart();
      });
    }, delay);
  }

  private async restart(): Promise<void> {
    if (this.stopped || this.pid !== undefined || !this.applied) return;
    await this.write(this.applied);
    await this.start();
    this.clearRetiring();
  }

  /** A master an earlier agent left (it was killed before the parent-death signal existed, say). */
  private async stopStale(): Promise<void> {
    const pid = Number((await readFile(this.paths.pidFile, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 0 || pid === this.child?.pid) return;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('haproxy') || !cmdline.includes(this.paths.config)) return;
    this.log.warn('stopping a haproxy left by an earlier agent', { pid });
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 100 && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')) !== ''; i++) await sleep(this.opts.clock, 50);
  }
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

/** SIGTERM (haproxy's hard stop, workers included), SIGKILL after 5 s. */
async function terminate(child: ChildProcess, clock: Clock): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = clock.setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clock.clearTimeout(timer);
}

/** One command on a haproxy CLI (the master's, or a worker's runtime API); resolves with the answer when haproxy closes. */
function cliCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let out = '';
    s.setEncoding('utf8');
    s.setTimeout(5_000, () => s.destroy(new Error(`haproxy CLI ${command}: no answer`)));
    s.on('connect', () => s.end(`${command}\n`));
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}
