import { join } from 'node:path';
import { configsUsed, secretsUsed, type ManifestSpec } from '../../api/manifest.js';
import type { ReplicaFiles } from './container-template.js';
import { SECRET_ENV_FILE, secretEnvFile } from './secret-env.js';

/** One file of a replica: its name in the replica's directory, content and mode. */
export interface FileWrite {
  name: string;
  data: Buffer;
  mode: number;
}

/** The secrets and configs of a placement as this host holds them, opened (see ReplicaInput.files). */
export interface HeldFiles {
  /** The replica's directory on the host's tmpfs. */
  dir: string;
  /** Secret name -> value, for those held at the spec's version or newer. */
  secrets: Record<string, Buffer>;
  /** Config name -> content, likewise. */
  configs: Record<string, Buffer>;
}

export interface FilePlan {
  /** What is not here yet, for a message: `secret db-password`, `config site`. */
  missing: string[];
  /** The files to write before the container is made. */
  writes: FileWrite[];
  /** The env values and binds for the container template. */
  template: ReplicaFiles;
}

/** Secrets are for root in the container only (as Swarm's default of root-owned files, but 0400); configs for anyone. */
const SECRET_MODE = 0o400;
const CONFIG_MODE = 0o444;

/**
 * How a spec's secrets and configs reach its container: each file written to the replica's
 * tmpfs directory and bound read-only at its path; the env secret references' values in one
 * more file there, which the container's start exports (secret-env.ts), so that no value is
 * in the container's config. Without `held` (the spec uses none) there is nothing to do.
 */
export function planFiles(spec: ManifestSpec, held: HeldFiles | undefined): FilePlan {
  const none: FilePlan = { missing: [], writes: [], template: { binds: [] } };
  const secrets = secretsUsed(spec);
  const configs = configsUsed(spec);
  if (secrets.length === 0 && configs.length === 0) return none;
  const have = held ?? { dir: '', secrets: {}, configs: {} };
  const missing = [...secrets.filter((s) => !have.secrets[s]).map((s) => `secret ${s}`), ...configs.filter((c) => !have.configs[c]).map((c) => `config ${c}`)];
  if (missing.length) return { ...none, missing };
  const writes: FileWrite[] = [];
  const binds: ReplicaFiles['binds'] = [];
  for (const [name, target] of Object.entries(spec.secrets ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    writes.push({ name: `secret-${name}`, data: have.secrets[name]!, mode: SECRET_MODE });
    binds.push({ source: join(have.dir, `secret-${name}`), target });
  }
  for (const [name, target] of Object.entries(spec.configs ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    writes.push({ name: `config-${name}`, data: have.configs[name]!, mode: CONFIG_MODE });
    binds.push({ source: join(have.dir, `config-${name}`), target });
  }
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.env)) if (typeof v !== 'string') values[k] = have.secrets[v.secret]!.toString('utf8');
  if (Object.keys(values).length === 0) return { missing: [], writes, template: { binds } };
  // Read by the container's start as the container's user, which the image may set (USER)
  // without the manifest saying: readable by any user of this container, as Swarm's secret
  // files are by default. It is bound into this container only.
  writes.push({ name: SECRET_ENV_FILE, data: secretEnvFile(values), mode: CONFIG_MODE });
  return { missing: [], writes, template: { binds, secretEnv: join(have.dir, SECRET_ENV_FILE) } };
}
