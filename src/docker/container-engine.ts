import type { Observable } from 'rxjs';

export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Docker's state: created, running, exited, dead, restarting, paused, removing. */
  state: string;
}

export interface ContainerDetails extends ContainerSummary {
  running: boolean;
  exitCode: number;
  startedAt?: string;
  finishedAt?: string;
  /**
   * Docker's State.OOMKilled: the last exit was the kernel's OOM killer enforcing the
   * memory limit (exit code 137). Docker clears it when the container starts again.
   */
  oomKilled?: boolean;
  /** "80/tcp" -> published host port. */
  hostPorts: Record<string, number>;
  env: string[];
  /** The container's address on the engine's default bridge (for health probes). */
  ip?: string;
  /** Docker's own health status, for containers created with a healthcheck. */
  health?: 'starting' | 'healthy' | 'unhealthy';
}

export interface CreateSpec {
  name: string;
  image: string;
  /** Replaces the image's entrypoint (Docker's Entrypoint). */
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  labels: Record<string, string>;
  /** Container ports to publish on a random host port. */
  ports: { port: number; protocol: 'tcp' | 'udp' }[];
  /** Resolvers for the container (Docker's HostConfig.Dns); the engine's default if absent. */
  dns?: string[];
  /** Search domains for the container (HostConfig.DnsSearch). */
  dnsSearch?: string[];
  /** Limits Docker enforces: HostConfig.NanoCpus (CPUs x 1e9) and Memory (bytes). */
  nanoCpus?: number;
  memoryBytes?: number;
  /** A command Docker runs inside the container to check its health. */
  healthcheck?: { cmd: string[]; intervalMs: number; timeoutMs: number; retries: number; startPeriodMs: number };
  /** Named volumes (`volume`: the volume's name) and bind mounts (`bind`: a host path; secret and config files) at `target` (HostConfig.Mounts). */
  mounts?: { type: 'volume' | 'bind'; source: string; target: string; readOnly: boolean }[];
  /** The user the command runs as (`uid[:gid]` or a name); the image's if absent. */
  user?: string;
  /** HostConfig.ReadonlyRootfs. */
  readOnlyRootfs?: boolean;
  /** Capabilities added to and dropped from Docker's default set (HostConfig.CapAdd, CapDrop). */
  capAdd?: string[];
  capDrop?: string[];
}

/** What an image runs when a container does not say: its entrypoint and command. */
export interface ImageCommand {
  entrypoint: string[];
  cmd: string[];
}

/** A Docker named volume. */
export interface VolumeSummary {
  name: string;
  labels: Record<string, string>;
}

export interface EngineInfo {
  cpus: number;
  memoryBytes: number;
  version: string;
}

/** Credentials for one registry, as Docker's X-Registry-Auth header carries them. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** The registry as Docker names it (`host[:port]`; Docker Hub: https://index.docker.io/v1/). */
  serveraddress: string;
}

/** A pull's bytes so far, summed over its layers; `total` grows as layers' sizes become known. */
export interface PullProgress {
  current: number;
  total: number;
}

export interface PullOptions {
  auth?: RegistryAuth;
  /** Called when the summed progress changes (often: callers throttle). */
  onProgress?: (progress: PullProgress) => void;
  /** Aborting ends the pull: the stream is destroyed and the call rejects. */
  signal?: AbortSignal;
}

/**
 * The action of the event `events` sends each time its stream (re)connects (empty id and
 * labels): events before it may have been lost, so a cache of the engine's containers lists them again.
 */
export const STREAM_CONNECTED = 'connected';

/** A container event (create, start, die, destroy...) with the container's labels (and Docker's `name` attribute). */
export interface ContainerEvent {
  id: string;
  action: string;
  labels: Record<string, string>;
}

/**
 * The narrow face of one Docker Engine. Calls reject on engine errors; a missing container
 * is `undefined` from inspect and a no-op for stop/remove (removal is idempotent).
 */
export interface ContainerEngine {
  list(labels: Record<string, string>): Promise<ContainerSummary[]>;
  inspect(id: string): Promise<ContainerDetails | undefined>;
  /** Creates (not starts) a container; rejects with code 409 if the name is taken. */
  create(spec: CreateSpec): Promise<string>;
  start(id: string): Promise<void>;
  /** Stop signal, then kill after graceSeconds. */
  stop(id: string, graceSeconds: number): Promise<void>;
  remove(id: string): Promise<void>;
  rename(id: string, name: string): Promise<void>;
  hasImage(ref: string): Promise<boolean>;
  /** What an image present on the engine runs by default (its Config.Entrypoint and Cmd). */
  imageCommand(ref: string): Promise<ImageCommand>;
  /**
   * Pulls an image; resolves when the engine has it. Rejects with the engine's error, whether
   * it came as an HTTP status or inside the progress stream (see classifyPullError).
   */
  pull(ref: string, options?: PullOptions): Promise<void>;
  info(): Promise<EngineInfo>;
  /** The default bridge's gateway: the host's address as seen from its containers. */
  bridgeGateway(): Promise<string | undefined>;
  logs(id: string, tail: number): Promise<string>;
  /** Creates a named volume, or returns the existing one of that name as it is (Docker's create is idempotent). */
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]>;
  /** Removes a named volume; a missing one is a no-op; one a container uses rejects with code 409. */
  removeVolume(name: string): Promise<void>;
  /**
   * Container events for containers carrying these labels, after a STREAM_CONNECTED event on
   * each (re)connection; reconnects on its own, never errors.
   */
  events(labels: Record<string, string>): Observable<ContainerEvent>;
}

/** The HTTP status an engine's error carries (dockerode's; the in-memory engines' errors mimic it), if any. */
export function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}
