import Docker from 'dockerode';
import { Observable } from 'rxjs';
import { backoffDelay, type Clock, type TimerHandle } from '../clock.js';
import { errorField, type Logger } from '../logging.js';
import { STREAM_CONNECTED, statusCode, type ContainerDetails, type ContainerEngine, type ContainerEvent, type ContainerSummary, type CreateSpec, type EngineInfo, type ImageCommand, type PullOptions, type VolumeSummary } from './container-engine.js';
import { PullProgressSum, pullStreamError, type PullMessage } from './pull-stream.js';
import { demuxFrames } from './log-frames.js';

/** ContainerEngine on dockerode, for `unix:///path.sock` or `tcp://host:port`. */
export class DockerodeEngine implements ContainerEngine {
  private readonly docker: Docker;

  constructor(
    url: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.docker = new Docker(dockerOptions(url));
  }

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const items = await this.docker.listContainers({ all: true, filters: { label: labelFilters(labels) } });
    return items.map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), labels: c.Labels ?? {}, state: c.State }));
  }

  async inspect(id: string): Promise<ContainerDetails | undefined> {
    try {
      const c = await this.docker.getContainer(id).inspect();
      const hostPorts: Record<string, number> = {};
      for (const [port, bindings] of Object.entries(c.NetworkSettings?.Ports ?? {})) {
        const first = (bindings as { HostPort: string }[] | null)?.[0];
        if (first?.HostPort) hostPorts[port] = Number(first.HostPort);
      }
      return {
        id: c.Id,
        name: c.Name.replace(/^\//, ''),
        labels: c.Config.Labels ?? {},
        state: c.State.Status,
        running: c.State.Running,
        exitCode: c.State.ExitCode,
        startedAt: c.State.StartedAt,
        finishedAt: c.State.FinishedAt,
        ...(c.State.OOMKilled ? { oomKilled: true } : {}),
        hostPorts,
        env: c.Config.Env ?? [],
        ...(bridgeIp(c.NetworkSettings) ? { ip: bridgeIp(c.NetworkSettings)! } : {}),
        ...(c.State.Health?.Status ? { health: c.State.Health.Status as ContainerDetails['health'] } : {}),
      };
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async create(spec: CreateSpec): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostPort: string }[]> = {};
    for (const p of spec.ports) {
      exposed[`${p.port}/${p.protocol}`] = {};
      bindings[`${p.port}/${p.protocol}`] = [{ HostPort: '' }];
    }
    const container = await this.docker.createContainer({
      name: spec.name,
      Image: spec.image,
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd ? { Cmd: spec.cmd } : {}),
      Env: spec.env,
      ...(spec.user !== undefined ? { User: spec.user } : {}),
      Labels: spec.labels,
      ExposedPorts: exposed,
      ...(spec.healthcheck
        ? {
            Healthcheck: {
              Test: ['CMD', ...spec.healthcheck.cmd],
              Interval: spec.healthcheck.intervalMs * 1e6,
              Timeout: spec.healthcheck.timeoutMs * 1e6,
              Retries: spec.healthcheck.retries,
              StartPeriod: spec.healthcheck.startPeriodMs * 1e6,
            },
          }
        : {}),
      HostConfig: {
        PortBindings: bindings,
        ...(spec.dns ? { Dns: spec.dns } : {}),
        ...(spec.dnsSearch ? { DnsSearch: spec.dnsSearch } : {}),
        ...(spec.nanoCpus !== undefined ? { NanoCpus: spec.nanoCpus } : {}),
        // Memory and swap together: the limit is the limit (no swap beyond it).
        ...(spec.memoryBytes !== undefined ? { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes } : {}),
        ...(spec.mounts?.length ? { Mounts: spec.mounts.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly })) } : {}),
        // Init reaps zombies and turns SIGTERM into an exit for PID-1 programs that ignore it.
        Init: true,
        // Setuid binaries and file capabilities cannot raise privileges. No seccomp option:
        // Docker applies its default profile (never `seccomp=unconfined`).
        SecurityOpt: ['no-new-privileges:true'],
        ...(spec.readOnlyRootfs ? { ReadonlyRootfs: true } : {}),
        ...(spec.capAdd?.length ? { CapAdd: spec.capAdd } : {}),
        ...(spec.capDrop?.length ? { CapDrop: spec.capDrop } : {}),
        // Restarts are ours (backoff, status), not Docker's.
        RestartPolicy: { Name: 'no' },
      },
    });
    return container.id;
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusCode(err) !== 304) throw err; // 304: already running
    }
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: graceSeconds });
    } catch (err) {
      const code = statusCode(err);
      if (code !== 304 && code !== 404) throw err;
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const code = statusCode(err);
      // 404: gone already; 409 "removal already in progress": someone else is finishing it.
      if (code !== 404 && code !== 409) throw err;
    }
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    await this.docker.createVolume({ Name: name, Labels: labels });
  }

  async listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]> {
    const res = await this.docker.listVolumes({ filters: { label: labelFilters(labels) } });
    return (res.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove();
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  async rename(id: string, name: string): Promise<void> {
    await this.docker.getContainer(id).rename({ name });
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }

  async imageCommand(ref: string): Promise<ImageCommand> {
    const config = ((await this.docker.getImage(ref).inspect()) as { Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }).Config;
    return { entrypoint: config?.Entrypoint ?? [], cmd: config?.Cmd ?? [] };
  }

  async pull(ref: string, options: PullOptions = {}): Promise<void> {
    const { auth, onProgress, signal } = options;
    signal?.throwIfAborted();
    const stream = (await this.docker.pull(ref, { ...(auth ? { authconfig: auth } : {}), ...(signal ? { abortSignal: signal } : {}) })) as NodeJS.ReadableStream & { destroy(): void };
    const sum = new PullProgressSum();
    await new Promise<void>((resolve, reject) => {
      let failed: string | undefined;
      const abort = () => {
        stream.destroy();
        reject(signal!.reason ?? new Error('pull aborted'));
      };
      signal?.addEventListener('abort', abort, { once: true });
      const settle = (err?: unknown) => {
        signal?.removeEventListener('abort', abort);
        if (err) reject(err);
        else if (failed !== undefined) reject(new Error(failed));
        else resolve();
      };
      onJsonLines<PullMessage>(stream, (msg) => {
        failed = pullStreamError(msg) ?? failed;
        if (sum.update(msg)) onProgress?.(sum.progress);
      });
      stream.on('end', () => settle());
      stream.on('error', (err: unknown) => settle(err));
    });
  }

  async info(): Promise<EngineInfo> {
    const info = await this.docker.info();
    return { cpus: info.NCPU, memoryBytes: info.MemTotal, version: info.ServerVersion };
  }

  async bridgeGateway(): Promise<string | undefined> {
    return bridgeGatewayOf((await this.docker.getNetwork('bridge').inspect()) as BridgeInspect);
  }

  async logs(id: string, tail: number): Promise<string> {
    const buf = (await this.docker.getContainer(id).logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    return demuxFrames(buf).toString();
  }

  events(labels: Record<string, string>): Observable<ContainerEvent> {
    return new Observable<ContainerEvent>((subscriber) => {
      let closed = false;
      let attempt = 0;
      let timer: TimerHandle | undefined;
      let stream: NodeJS.ReadableStream & { destroy?: () => void } | undefined;
      const reconnect = (err?: unknown) => {
        stream = undefined;
        if (closed) return;
        const delay = backoffDelay(attempt++, 500, 30_000);
        this.log.warn('docker event stream ended; reconnecting', { delayMs: delay, ...(err ? { error: errorField(err) } : {}) });
        timer = this.clock.setTimeout(connect, delay);
      };
      const connect = () => {
        this.docker
          .getEvents({ filters: { type: ['container'], label: labelFilters(labels) } })
          .then((s) => {
            if (closed) return (s as { destroy?: () => void }).destroy?.();
            stream = s as typeof stream;
            attempt = 0;
            subscriber.next({ id: '', action: STREAM_CONNECTED, labels: {} });
            // A torn line cannot be recovered; the periodic re-list covers it.
            onJsonLines<{ id?: string; Action?: string; Actor?: { ID: string; Attributes?: Record<string, string> } }>(s, (ev) =>
              subscriber.next({ id: ev.Actor?.ID ?? ev.id ?? '', action: ev.Action ?? '', labels: ev.Actor?.Attributes ?? {} }),
            );
            s.on('end', () => reconnect());
            s.on('error', (err: unknown) => reconnect(err));
          })
          .catch((err: unknown) => reconnect(err));
      };
      connect();
      return () => {
        closed = true;
        if (timer !== undefined) this.clock.clearTimeout(timer);
        stream?.destroy?.();
      };
    });
  }
}

function dockerOptions(url: string): Docker.DockerOptions {
  if (url.startsWith('unix://')) return { socketPath: url.slice('unix://'.length) };
  if (url.startsWith('/')) return { socketPath: url };
  const u = new URL(url.replace(/^tcp:/, 'http:'));
  return { host: u.hostname, port: Number(u.port || 2375), protocol: 'http' };
}

function bridgeIp(settings: { Networks?: Record<string, { IPAddress?: string }> } | undefined): string | undefined {
  const nets = Object.values(settings?.Networks ?? {});
  return nets.find((n) => n.IPAddress)?.IPAddress || undefined;
}

/** 172.17.0.0/16 -> 172.17.0.1 (IPv4 only). */
/** The part of `docker network inspect bridge` that bridgeGatewayOf reads. */
export interface BridgeInspect {
  IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] };
}

/**
 * The default bridge's gateway address. On an engine's very first start the bridge reports
 * a subnet but no gateway (the field appears after a restart); Docker then gives the bridge
 * the subnet's first address, so that is the answer.
 */
export function bridgeGatewayOf(net: BridgeInspect): string | undefined {
  const configs = net.IPAM?.Config ?? [];
  return configs.find((c) => c.Gateway)?.Gateway ?? firstHost(configs.find((c) => c.Subnet && !c.Subnet.includes(':'))?.Subnet);
}

export function firstHost(subnet: string | undefined): string | undefined {
  const m = subnet && /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!m) return undefined;
  const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const bits = Number(m[5]);
  const network = bits === 0 ? 0 : (ip & (~0 << (32 - bits))) >>> 0;
  const host = (network + 1) >>> 0;
  return [host >>> 24, (host >>> 16) & 255, (host >>> 8) & 255, host & 255].join('.');
}

/** Calls `fn` with each JSON line of a stream (Docker's progress and event streams); a line that does not parse is skipped. */
function onJsonLines<T>(stream: NodeJS.ReadableStream, fn: (value: T) => void): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      let value: T;
      try {
        value = JSON.parse(line) as T;
      } catch {
        continue;
      }
      fn(value);
    }
  });
}

function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

