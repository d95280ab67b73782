import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject, injectable } from 'inversify';
import { replicaId } from '../../api/keys.js';
import { DEFAULT_SECRETS_DIR, type Config } from '../../src/config.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { FileWrite } from './file-plan.js';

type ReplicaRef = { app: string; name: string; replica: number };

/**
 * The host's secret and config files, one directory per replica
 * (`<secrets-dir>/<node>/<app>/<name>/<replica>/`), on a tmpfs the store mounts before the
 * first write, so a secret never reaches the host's disk. A write replaces the directory's
 * files (each through a new inode, so a container still bound to the old file keeps reading
 * the old value until it is replaced); a replica's directory goes when it leaves the host.
 * Rejects if the tmpfs cannot be mounted: nothing is then written.
 */
@injectable()
export class SecretFileStore {
  private mounted: Promise<void> | undefined;

  constructor(@inject(TYPES.Config) private readonly config: Pick<Config, 'node' | 'secretsDir'>) {}

  /** The tmpfs mount point of this node. */
  get root(): string {
    return join(this.config.secretsDir ?? DEFAULT_SECRETS_DIR, this.config.node);
  }

  dirOf(ref: ReplicaRef): string {
    return join(this.root, ref.app, ref.name, String(ref.replica));
  }

  async write(ref: ReplicaRef, files: FileWrite[]): Promise<void> {
    await this.ensureTmpfs();
    const dir = this.dirOf(ref);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const f of files) {
      const tmp = join(dir, `.${f.name}.tmp`);
      await rm(tmp, { force: true });
      await writeFile(tmp, f.data, { mode: f.mode, flag: 'wx' });
      await rename(tmp, join(dir, f.name));
    }
    const keep = new Set(files.map((f) => f.name));
    for (const name of await readdir(dir)) if (!keep.has(name)) await rm(join(dir, name), { force: true });
  }

  async has(ref: ReplicaRef): Promise<boolean> {
    return existsSync(this.dirOf(ref));
  }

  async remove(ref: ReplicaRef): Promise<void> {
    await rm(this.dirOf(ref), { recursive: true, force: true });
  }

  /** Replicas (`app/name/replica`) that have a directory here: leftovers to clean up are among them. */
  async replicaIds(): Promise<string[]> {
    const ids: string[] = [];
    for (const app of await entries(this.root)) {
      for (const name of await entries(join(this.root, app))) {
        for (const replica of await entries(join(this.root, app, name))) if (/^\d+$/.test(replica)) ids.push(replicaId(app, name, Number(replica)));
      }
    }
    return ids;
  }

  private ensureTmpfs(): Promise<void> {
    this.mounted ??= this.mount().catch((err: unknown) => {
      this.mounted = undefined;
      throw new Error(`secrets tmpfs at ${this.root}: ${(err as Error).message}`);
    });
    return this.mounted;
  }

  private async mount(): Promise<void> {
    if (await isTmpfs(this.root)) return;
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    // noexec, nosuid, nodev: files to read, nothing else. 64 MiB of memory at most.
    await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=64m,noexec,nosuid,nodev', 'dokkaa-secrets', this.root]);
    if (!(await isTmpfs(this.root))) throw new Error('mounted, but /proc/mounts does not show a tmpfs there');
  }
}

/** Whether `dir` is a tmpfs mount point (as /proc/mounts lists it). */
export async function isTmpfs(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8');
  return mounts.split('\n').some((line) => {
    const [, point, type] = line.split(' ');
    return type === 'tmpfs' && point?.replace(/\\040/g, ' ') === dir;
  });
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
