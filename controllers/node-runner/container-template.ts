import { shortHash } from '../../api/canonical-json.js';
import { replicaId } from '../../api/keys.js';
import { DNS_DOMAIN } from '../../api/dns-names.js';
import { runImageOf } from '../../api/image-pins.js';
import { envName } from '../../api/names.js';
import type { PlacementRecord } from '../../api/records.js';
import type { CreateSpec } from '../../src/docker/container-engine.js';
import { HOST_STATIC_SHELL, SECRET_ENV_TARGET, SHELL_TARGET } from './secret-env.js';

/** Labels on every container Dokkaa makes; how a restarted agent finds and adopts them. */
export const LABEL = {
  managed: 'dokkaa.managed',
  /** The etcd key prefix of the cluster that owns it: two clusters can share an engine. */
  cluster: 'dokkaa.cluster',
  node: 'dokkaa.node',
  app: 'dokkaa.app',
  name: 'dokkaa.name',
  replica: 'dokkaa.replica',
  hash: 'dokkaa.spec-hash',
  revision: 'dokkaa.revision',
  /** Seconds between stop signal and kill: used even once the placement (and spec) is gone. */
  stopGrace: 'dokkaa.stop-grace',
  /** On volumes: the manifest's name for the volume (`data`). */
  volume: 'dokkaa.volume',
} as const;

/** `<app>---<name>---<replica>`: the original's `<app>---<name>` plus the replica index. */
export function containerName(app: string, name: string, replica: number): string {
  return `${app}---${name}---${replica}`;
}

/** `<app>---<name>---<replica>---<volume>`: replica `replica`'s own Docker named volume. */
export function volumeName(app: string, name: string, replica: number, volume: string): string {
  return `${containerName(app, name, replica)}---${volume}`;
}

/** The labels every container of this cluster on this node carries (the node runner's, the fence's and the container cache's filter). */
export function hostLabels(cluster: string, node: string): Record<string, string> {
  return { [LABEL.managed]: 'true', [LABEL.cluster]: cluster, [LABEL.node]: node };
}

/** The replica (`app/name/replica`) a container's labels name, if they name one. */
export function replicaOfLabels(labels: Record<string, string>): string | undefined {
  const app = labels[LABEL.app];
  const name = labels[LABEL.name];
  const replica = labels[LABEL.replica];
  return app === undefined || name === undefined || replica === undefined ? undefined : replicaId(app, name, Number(replica));
}

/** The labels of replica `replica`'s volume `volume` (as its containers', so a restarted agent finds them). */
export function volumeLabels(cluster: string, node: string, app: string, name: string, replica: number, volume: string): Record<string, string> {
  return { ...hostLabels(cluster, node), [LABEL.app]: app, [LABEL.name]: name, [LABEL.replica]: String(replica), [LABEL.volume]: volume };
}

/** The container's mounts: each named volume of the replica, each host path as a bind mount. */
function mountsOf(p: PlacementRecord): NonNullable<CreateSpec['mounts']> {
  return Object.entries(p.spec.volumes ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([volume, v]) => ({
      type: v.hostPath === undefined ? ('volume' as const) : ('bind' as const),
      source: v.hostPath ?? volumeName(p.app, p.name, p.replica, volume),
      target: v.path,
      readOnly: v.readOnly === true,
    }));
}

/**
 * A placement's secrets and configs as this host delivers them: the opened values of the
 * secrets its env names, and the files (on the host's tmpfs) to bind read-only at their paths.
 */
export interface ReplicaFiles {
  binds: { source: string; target: string }[];
  /** The host file holding the env secrets' values, when the spec has any (secret-env.ts). */
  secretEnv?: string;
}

/**
 * The container for a placement: its spec, the env the original injected
 * (DOKKAA_APP_NAME, DOKKAA_SERVICE_<svc>) and the resolved link env. The hash covers all
 * of it, so a changed spec or a changed link address replaces the container. A secret in
 * env enters the hash by name (its version is in the spec's), never by value: the hash is a label.
 */
export function containerTemplate(
  p: PlacementRecord,
  linkEnv: Record<string, string>,
  node: string,
  dns?: Pick<CreateSpec, 'dns' | 'dnsSearch'>,
  cluster?: string,
  files?: ReplicaFiles,
): CreateSpec & { hash: string; launchWithSecretEnv?: true } {
  const env: Record<string, string | { secret: string }> = { ...p.spec.env, ...linkEnv, DOKKAA_APP_NAME: p.app };
  for (const [svc, decl] of Object.entries(p.spec.services)) env[`DOKKAA_SERVICE_${envName(svc)}`] = String(decl.port);
  const names = Object.keys(env).sort();
  const shown = (k: string) => { const v = env[k]!; return typeof v === 'string' ? v : `{secret:${v.secret}}`; };
  const plain = names.filter((k) => typeof env[k] === 'string');
  // Secret values reach the container through its start, not its config (secret-env.ts);
  // containers made before that had them in the config, and the marker replaces them.
  const secretEnv = plain.length < names.length ? files?.secretEnv : undefined;
  const hash = shortHash({ template: p.templateHash, env: names.map((k) => `${k}=${shown(k)}`), ...(plain.length < names.length ? { secretEnv: 'launch' } : {}) });
  const binds = [...(files?.binds ?? []), ...(secretEnv ? [{ source: secretEnv, target: SECRET_ENV_TARGET }, { source: HOST_STATIC_SHELL, target: SHELL_TARGET }] : [])];
  return {
    name: containerName(p.app, p.name, p.replica),
    // By digest once the scheduler pinned it: every host runs the same image whatever the tag names now.
    image: runImageOf(p.spec),
    ...(p.spec.command ? { cmd: p.spec.command } : {}),
    env: plain.map((k) => `${k}=${env[k] as string}`),
    labels: {
      [LABEL.managed]: 'true',
      ...(cluster ? { [LABEL.cluster]: cluster } : {}),
      [LABEL.node]: node,
      [LABEL.app]: p.app,
      [LABEL.name]: p.name,
      [LABEL.replica]: String(p.replica),
      [LABEL.hash]: hash,
      [LABEL.revision]: String(p.revision),
      [LABEL.stopGrace]: String(p.spec.stopGracePeriodMs / 1000),
    },
    ports: Object.values(p.spec.services).map((s) => ({ port: s.port, protocol: s.protocol })),
    ...(p.spec.resources?.cpus !== undefined ? { nanoCpus: Math.round(p.spec.resources.cpus * 1e9) } : {}),
    ...(p.spec.resources?.memoryBytes !== undefined ? { memoryBytes: p.spec.resources.memoryBytes } : {}),
    // Not in the hash: a changed resolver must not replace running containers.
    ...(dns ?? {}),
    // Command checks run inside the container, by Docker; TCP/HTTP checks run in the agent.
    ...(p.spec.health?.kind === 'cmd'
      ? { healthcheck: { cmd: p.spec.health.cmd!, intervalMs: p.spec.health.intervalMs, timeoutMs: p.spec.health.timeoutMs, retries: p.spec.health.retries, startPeriodMs: p.spec.health.startPeriodMs } }
      : {}),
    // In the hash through the spec's templateHash (volumes are part of it when present).
    ...(p.spec.volumes || binds.length
      ? { mounts: [...(p.spec.volumes ? mountsOf(p) : []), ...binds.map((b) => ({ type: 'bind' as const, source: b.source, target: b.target, readOnly: true }))] }
      : {}),
    // In the hash through the spec's templateHash, only when given; the engine adds
    // no-new-privileges to every container outside the hash (an upgrade replaces nothing).
    ...(p.spec.user !== undefined ? { user: p.spec.user } : {}),
    ...(p.spec.readOnlyRootfs ? { readOnlyRootfs: true } : {}),
    ...(p.spec.capAdd?.length ? { capAdd: p.spec.capAdd } : {}),
    ...(p.spec.capDrop?.length ? { capDrop: p.spec.capDrop } : {}),
    // The executor makes it start through the shell once it knows the image's command.
    ...(secretEnv ? { launchWithSecretEnv: true as const } : {}),
    hash,
  };
}

/**
 * DNS for a container of `app`: the host's own resolver (the agent's DNS server) and the
 * search domains `<app>.dokkaa.local` and `dokkaa.local`, so `nginx` and `nginx.otherapp`
 * resolve. Nothing (the engine's default) when the host runs no DNS server for containers.
 */
export function containerDns(resolver: string | undefined, app: string): Pick<CreateSpec, 'dns' | 'dnsSearch'> | undefined {
  return resolver ? { dns: [resolver], dnsSearch: [`${app}.${DNS_DOMAIN}`, DNS_DOMAIN] } : undefined;
}
