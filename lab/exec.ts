import { execFile } from 'node:child_process';

/**
 * Running the system tools (ip, iptables, sysctl, umount) the lab is built with. Always
 * `execFile` with an argument array: lab and node names end up in arguments, and no shell
 * ever sees them.
 */

export interface RunResult {
  ok: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command; never rejects. For probes whose failure is an answer ("does X exist?"). */
export function tryRun(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ ok: !err, code, stdout, stderr: err && !stderr ? err.message : stderr });
    });
  });
}

/** Runs a command; rejects with the command line and its stderr when it fails. */
export async function run(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const r = await tryRun(cmd, args, timeoutMs);
  if (!r.ok) throw new Error(`${[cmd, ...args].join(' ')} failed (exit ${r.code ?? '?'}): ${r.stderr.trim()}`);
  return r.stdout;
}
