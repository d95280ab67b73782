import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3, type IOptions } from 'etcd3';
import type { Logger } from '../logging.js';
import { etcdClientOptions } from './etcd-tls.js';

/** Whether an etcd answers with these options (etcdClientOptions) within a short time. */
export async function etcdReachable(options: IOptions, timeoutMs = 1500): Promise<boolean> {
  const client = new Etcd3({ ...options, dialTimeout: timeoutMs });
  try {
    await Promise.race([client.get('/dokkaa-ping').string(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), timeoutMs))]);
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}

export interface LocalEtcd {
  url: string;
  stop(): Promise<void>;
}

/** Starts an etcd child process for `dokkaa up` and waits until it answers. */
export async function startLocalEtcd(dataDir: string, port: number, log: Logger): Promise<LocalEtcd> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const url = `http://127.0.0.1:${port}`;
  const out = openSync(join(dataDir, '..', 'etcd-up.log'), 'a');
  const child: ChildProcess = spawn(
    'etcd',
    [
      '--name', 'dokkaa-up',
      '--data-dir', dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${port + 1}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${port + 1}`,
      '--initial-cluster', `dokkaa-up=http://127.0.0.1:${port + 1}`,
    ],
    { stdio: ['ignore', out, out] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode}; see ${join(dataDir, '..', 'etcd-up.log')}`);
    if (await etcdReachable(etcdClientOptions({ etcd: [url] }, new Date()), 500)) {
      log.info('local etcd started', { url, dataDir, pid: child.pid });
      return {
        url,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error('local etcd did not become ready within 20 s');
}
