import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { etcdOptions } from './world.js';

/** A private etcd server for tests that stop and restart it. */
export class EtcdServer {
  private child: ChildProcess | undefined;
  private constructor(readonly dataDir: string, readonly clientPort: number) {}

  static async start(): Promise<EtcdServer> {
    const port = 24000 + Math.floor(Math.random() * 4000) * 2;
    const server = new EtcdServer(mkdtempSync(join(tmpdir(), 'dokkaa-etcd-')), port);
    await server.restart();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** (Re)starts the server on the same data dir and waits until it answers. */
  async restart(): Promise<void> {
    const peer = `http://127.0.0.1:${this.clientPort + 1}`;
    this.child = spawn('etcd', [
      '--name', 'test', '--data-dir', this.dataDir,
      '--listen-client-urls', this.url, '--advertise-client-urls', this.url,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `test=${peer}`,
    ], { stdio: 'ignore' });
    const client = new Etcd3(etcdOptions(this.url, { dialTimeout: 500 }));
    try {
      for (let i = 0; i < 100; i++) {
        if (this.child.exitCode !== null) throw new Error(`etcd exited with ${this.child.exitCode}`);
        try {
          await client.get('ping').string();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw new Error('etcd did not start');
    } finally {
      client.close();
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
