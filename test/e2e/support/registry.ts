import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { importRandomImage } from '../../../lab/random-image.js';
import { waitFor, type World } from './world.js';
import { freePort } from '../../../src/net/free-port.js';

const BIN = fileURLToPath(new URL('../../../../bin/dokkaa.js', import.meta.url));

/** The CLI against the world's etcd and prefix, with `input` on its stdin. */
export function cli(world: World, input: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args, '--etcd', world.etcdUrl, '--prefix', world.prefix], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(input);
  });
}

/** A one-layer image of `megabytes` of random data and busybox (lab/random-image.ts): unlike any other. */
export function bigImage(world: Pick<World, 'docker'>, ref: string, megabytes: number): Promise<void> {
  return importRandomImage(world.docker, ref, megabytes);
}


/**
 * A real registry (Debian's docker-registry: the distribution registry) with htpasswd
 * authentication on 127.0.0.1, which engines use without TLS. Run inside the tests' network
 * namespace, the engine under test reaches it there. `host` serves at full speed (for
 * pushes); `slowHost` is the same registry behind a proxy that sends at most
 * `bytesPerSecond` towards clients, so that a pull lasts long enough to be watched.
 */
export class LocalRegistry {
  readonly log: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly proxy: Server,
    readonly host: string,
    readonly slowHost: string,
  ) {}

  static async start(username: string, password: string, bytesPerSecond = 8e6): Promise<LocalRegistry> {
    const dir = mkdtempSync(join(tmpdir(), 'dokkaa-registry-'));
    const htpasswd = execFileSync('htpasswd', ['-Bbn', username, password]).toString();
    writeFileSync(join(dir, 'htpasswd'), htpasswd);
    const port = await freePort();
    writeFileSync(
      join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log: {level: info, formatter: text}',
        `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}`,
        `http: {addr: "127.0.0.1:${port}"}`,
        `auth: {htpasswd: {realm: dokkaa-test, path: ${join(dir, 'htpasswd')}}}`,
        '',
      ].join('\n'),
    );
    const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const proxyServer = createServer();
    const registry = new LocalRegistry(dir, child, proxyServer, `127.0.0.1:${port}`, '');
    for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => registry.log.push(...d.toString().split('\n').filter(Boolean)));
    proxyServer.on('connection', (client) => registry.throttle(client, port, bytesPerSecond));
    await new Promise<void>((resolve) => proxyServer.listen(0, '127.0.0.1', resolve));
    (registry as { slowHost: string }).slowHost = `127.0.0.1:${(proxyServer.address() as { port: number }).port}`;
    await waitFor('the registry to listen', async () => {
      const res = await fetch(`http://${registry.host}/v2/`).catch(() => undefined);
      return res?.status === 401;
    }, 15_000);
    return registry;
  }

  /** Pushes a local image to `ref` on this registry through the engine, as `docker push` does. */
  static async push(docker: Docker, local: string, ref: string, auth: { username: string; password: string; serveraddress: string }): Promise<void> {
    const colon = ref.lastIndexOf(':');
    const [repo, tag] = [ref.slice(0, colon), ref.slice(colon + 1)];
    await docker.getImage(local).tag({ repo, tag });
    const stream = await docker.getImage(ref).push({ authconfig: auth });
    const lines = await new Promise<{ error?: string }[]>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => (err ? reject(err) : resolve(out))));
    const failed = lines.find((l) => l.error);
    if (failed) throw new Error(`push of ${ref}: ${failed.error}`);
  }

  /** Client <-> registry, with the registry's bytes held back to the rate. */
  private throttle(client: Socket, port: number, bytesPerSecond: number): void {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      upstream.pause();
      setTimeout(() => upstream.resume(), (1000 * chunk.length) / bytesPerSecond);
    });
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.proxy.close(() => resolve()));
    this.child.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
