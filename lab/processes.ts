import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * The lab's long-running processes (etcd, dockerds, agents, controller): started detached,
 * identified afterwards by pid AND command line, stopped by pid. Never by process name: the
 * machine runs its own dockerd and etcd, and other labs run the same programs.
 */

/** What the lab records about a process it started. */
export interface ProcessRecord {
  pid: number;
  /** The command line the process runs under (after any exec, e.g. nsenter -> dockerd). */
  argv: string[];
}

export type ProcessState = 'running' | 'stopped' | 'dead';

function cmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw ? raw.replace(/\0$/, '').split('\0') : undefined; // empty: zombie or kernel thread
  } catch {
    return undefined;
  }
}

/** Single-letter state from /proc/PID/stat ('R', 'S', 'T' stopped, 'Z' zombie, ...). */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Whether the recorded process still runs: the pid exists, is not a zombie, and runs the
 * recorded command line (a reused pid runs something else). argv[0] is compared by basename
 * since exec may resolve it through PATH.
 */
export function isOurs(rec: ProcessRecord | undefined): boolean {
  if (!rec || !Number.isInteger(rec.pid) || rec.pid <= 1) return false;
  const actual = cmdline(rec.pid);
  if (!actual || actual.length !== rec.argv.length) return false;
  if (basename(actual[0]!) !== basename(rec.argv[0]!)) return false;
  return actual.slice(1).every((a, i) => a === rec.argv[i + 1]);
}

/** Whether no live process has this pid (missing or a zombie), whatever it runs. */
export function pidGone(pid: number): boolean {
  const s = procState(pid);
  return s === undefined || s === 'Z' || s === 'X';
}

export function processState(rec: ProcessRecord | undefined): ProcessState {
  if (!isOurs(rec)) return 'dead';
  const s = procState(rec!.pid);
  return s === 'T' || s === 't' ? 'stopped' : s === 'Z' || s === 'X' || s === undefined ? 'dead' : 'running';
}

export interface SpawnDetachedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  log: string;
}

/**
 * Starts a process in its own session (setsid via `detached`), stdout and stderr appended
 * to `log`, not tied to this CLI process: it keeps running after `dokkaa lab up` exits.
 * Resolves once the process has been created; rejects if it could not be (e.g. ENOENT).
 */
export function spawnDetached(cmd: string, args: string[], opts: SpawnDetachedOptions): Promise<number> {
  const fd = openSync(opts.log, 'a');
  try {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', fd, fd] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `pred` every `everyMs` until it is true or `timeoutMs` passes; returns the last answer. */
export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() >= deadline) return false;
    await sleepMs(everyMs);
  }
}

/**
 * Stops a recorded process: `first` (SIGTERM by default), up to `graceMs` for it to exit,
 * then SIGKILL. A SIGSTOPped process gets SIGCONT so that it can act on the SIGTERM.
 * Returns how it ended: 'gone' (was not running), 'exited' or 'killed'.
 */
export async function stopProcess(rec: ProcessRecord | undefined, graceMs: number, first: NodeJS.Signals = 'SIGTERM'): Promise<'gone' | 'exited' | 'killed'> {
  if (!isOurs(rec)) return 'gone';
  const pid = rec!.pid;
  // Gone for good: no process, a zombie, or the pid reused by something else. Not merely
  // "not ours": an exiting process has an empty cmdline while it still tears down its memory
  // (a large node process takes a while), and callers count on it being gone.
  const ended = () => pidGone(pid) || (cmdline(pid) !== undefined && !isOurs(rec));
  if (first !== 'SIGKILL') {
    signal(pid, first);
    signal(pid, 'SIGCONT');
    if (await waitFor(ended, graceMs)) return 'exited';
  }
  signal(pid, 'SIGKILL');
  await waitFor(ended, 5_000);
  return first === 'SIGKILL' ? 'exited' : 'killed';
}

/**
 * Pids of processes whose command line mentions `path` (a directory only this lab uses):
 * containerd and shims a SIGKILLed dockerd leaves behind. Narrow by construction.
 */
export function processesMentioning(path: string): ProcessRecord[] {
  const found: ProcessRecord[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const argv = cmdline(Number(entry));
    if (argv?.some((a) => a === path || a.startsWith(`${path}/`) || a.includes(`=${path}/`) || a.includes(`://${path}/`))) found.push({ pid: Number(entry), argv });
  }
  return found;
}

/**
 * Processes inside the given Docker containers, found by the 64-hex container id in their
 * cgroup path (`/docker/<id>` with the cgroupfs driver, `docker-<id>.scope` with systemd).
 * For containers whose engine died: their shim reparents them and nothing else stops them.
 */
export function processesInContainers(ids: readonly string[]): ProcessRecord[] {
  const wanted = ids.filter((id) => /^[0-9a-f]{64}$/.test(id));
  if (!wanted.length) return [];
  const found: ProcessRecord[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cgroup: string;
    try {
      cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    if (!wanted.some((id) => cgroup.includes(`/docker/${id}`) || cgroup.includes(`docker-${id}.scope`))) continue;
    const argv = cmdline(Number(entry));
    if (argv) found.push({ pid: Number(entry), argv });
  }
  return found;
}

/** Reads a pid file; undefined if missing or garbage. */
export function readPidFile(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A record for whatever runs as `pid` now (for pids read from pid files). */
export function recordOf(pid: number | undefined): ProcessRecord | undefined {
  const argv = pid ? cmdline(pid) : undefined;
  return argv ? { pid: pid!, argv } : undefined;
}
