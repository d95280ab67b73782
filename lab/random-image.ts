import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';

const exec = promisify(execFile);

/**
 * Imports (`docker import`) on `docker` a one-layer image tagged `ref`: the host's static
 * busybox as /bin/busybox and /bin/sleep, and `megabytes` of random data, so that it is
 * unlike any other image and its pull moves that many bytes (registry tests, cold benchmarks).
 */
export async function importRandomImage(docker: Docker, ref: string, megabytes: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dokkaa-image-'));
  try {
    mkdirSync(join(dir, 'bin'));
    copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
    chmodSync(join(dir, 'bin/busybox'), 0o755);
    symlinkSync('busybox', join(dir, 'bin/sleep'));
    writeFileSync(join(dir, 'random.bin'), randomBytes(Math.round(megabytes * 1e6)));
    await exec('tar', ['-C', dir, '-cf', `${dir}.tar`, '.']);
    const colon = ref.lastIndexOf(':');
    const stream = (await docker.importImage(`${dir}.tar`, { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) })) as NodeJS.ReadableStream;
    await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve(undefined))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.tar`, { force: true });
  }
}
