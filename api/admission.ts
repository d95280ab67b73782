import { registryHostOf } from './image-refs.js';
import type { ManifestSpec } from './manifest.js';
import { quotaOf, type PolicyRecord } from './policy.js';
import { formatCpus, formatMemory, reservationOf } from './reservation.js';
import { hostPathAllowed } from './volumes.js';

/*
 * Admission (docs/policy.md): whether a manifest's spec may be placed under the cluster
 * policy. Pure; the scheduler asks before it places anything.
 */

/** The policy as the scheduler holds it: none written, a valid one, or only an invalid one seen (fail closed). */
export type PolicyView = { kind: 'none' } | { kind: 'policy'; policy: PolicyRecord } | { kind: 'broken'; error: string };

/** What some of an app's manifests reserve: replicas, and their CPUs and bytes of memory in all. */
export interface Usage {
  replicas: number;
  cpus: number;
  memoryBytes: number;
}

export const NO_USAGE: Usage = { replicas: 0, cpus: 0, memoryBytes: 0 };

export interface AdmissionInput {
  app: string;
  spec: ManifestSpec;
  /** How many replicas the spec runs: its scale, or for a global one the live matching nodes. */
  replicas: number;
  /** What the app's other manifests have placed. */
  others: Usage;
  /** What this manifest has placed now (a spec that asks for no more of an amount is never refused for it). */
  current?: Usage;
  policy: PolicyView;
}

/** A broken rule: the policy field it comes from (`registries`, `quotas.cpus`...) and what broke it. */
export interface Violation {
  rule: string;
  message: string;
}

/** Every rule the spec breaks, in the order of docs/policy.md; empty: admitted. */
export function admit(input: AdmissionInput): Violation[] {
  const { policy } = input;
  if (policy.kind === 'none') return [];
  if (policy.kind === 'broken') {
    return [{ rule: 'policy', message: `the cluster policy is invalid and the scheduler has seen no valid one to keep (${policy.error}); nothing new is admitted until it is fixed` }];
  }
  return [...imageRule(input.spec.image, policy.policy), ...privilegedRule(input, policy.policy), ...hostPathRule(input.spec, policy.policy), ...quotaRules(input, policy.policy)];
}

/** `Forbidden: rule: message` lines as the status shows them. */
export function violationText(v: Violation): string {
  return `${v.rule}: ${v.message}`;
}

function imageRule(image: string, policy: PolicyRecord): Violation[] {
  const prefixes = policy.registries;
  if (prefixes === undefined || prefixes.some((p) => imageUnder(image, p))) return [];
  return [{ rule: 'registries', message: `image ${image} is not under an allowed registry (${listed(prefixes)})` }];
}

/**
 * Whether the policy lets a host pull `image` at all (`dokkaa pull` asks hosts to pull an
 * image no placement names yet): its registries rule, and none under a broken policy.
 */
export function pullViolations(image: string, policy: PolicyView): Violation[] {
  if (policy.kind === 'none') return [];
  if (policy.kind === 'broken') return [{ rule: 'policy', message: `the cluster policy is invalid (${policy.error}); nothing is pulled until it is fixed` }];
  return imageRule(image, policy.policy);
}

function privilegedRule(input: AdmissionInput, policy: PolicyRecord): Violation[] {
  const apps: readonly string[] | undefined = policy.privileged;
  if (apps === undefined || apps.includes(input.app)) return [];
  const used = powerfulOptions(input.spec);
  if (used.length === 0) return [];
  return [{ rule: 'privileged', message: `app ${input.app} may not use ${used.join(', ')}: only the apps listed in privileged may (${listed(apps)})` }];
}

/** The powerful options a spec uses (docs/policy.md): added capabilities, host-path volumes. */
export function powerfulOptions(spec: ManifestSpec): string[] {
  const used: string[] = [];
  if (spec.capAdd?.length) used.push(`capAdd (${spec.capAdd.join(', ')})`);
  for (const [name, v] of Object.entries(spec.volumes ?? {})) if (v.hostPath !== undefined) used.push(`a host path (volumes.${name}: ${v.hostPath})`);
  return used;
}

function hostPathRule(spec: ManifestSpec, policy: PolicyRecord): Violation[] {
  const prefixes = policy.hostPaths;
  if (prefixes === undefined) return [];
  return Object.entries(spec.volumes ?? {})
    .filter(([, v]) => v.hostPath !== undefined && !hostPathAllowed(v.hostPath, prefixes))
    .map(([name, v]) => ({ rule: 'hostPaths', message: `volumes.${name}: host path ${v.hostPath} is not under an allowed host path (${listed(prefixes)})` }));
}

function quotaRules(input: AdmissionInput, policy: PolicyRecord): Violation[] {
  const quota = quotaOf(policy, input.app);
  if (!quota) return [];
  const { app, replicas, others } = input;
  const current = input.current ?? NO_USAGE;
  const need = reservationOf(input.spec);
  const out: Violation[] = [];
  const over = (what: string, mine: number, theirs: number, now: number, max: number | undefined, show: (n: number) => string, unit: string) => {
    // A little slack for sums of fractional CPUs (0.1 x 3 is 0.30000000000000004).
    if (max === undefined || theirs + mine <= max * (1 + 1e-9)) return;
    // Over the quota already (it was tightened): scaling down or shrinking must still be possible.
    if (mine <= now * (1 + 1e-9)) return;
    out.push({
      rule: `quotas.${what}`,
      message: `app ${app} would use ${show(theirs + mine)}${unit}, at most ${show(max)}${unit} (this manifest ${show(mine)}, its other manifests ${show(theirs)})`,
    });
  };
  over('maxReplicas', replicas, others.replicas, current.replicas, quota.maxReplicas, String, ' replicas');
  over('cpus', replicas * need.cpus, others.cpus, current.cpus, quota.cpus, formatCpus, ' CPUs');
  over('memory', replicas * need.memoryBytes, others.memoryBytes, current.memoryBytes, quota.memory, formatMemory, ' of memory');
  return out;
}

/**
 * Whether `image` is under `prefix`, both read as Docker reads references (so `dokkaa/`
 * covers `dokkaa/web:1` and `docker.io/dokkaa/web:1`, `nginx` covers `nginx:1.25` and not
 * `nginx-evil`, and `dokkaa` never covers `dokkaa:5000/x`, which Docker pulls from host
 * `dokkaa:5000`). The prefix ends at a `/`, `:` or `@`, or the reference continues with one.
 */
export function imageUnder(image: string, prefix: string): boolean {
  const ref = qualified(image);
  const p = qualified(prefix);
  if (!ref.startsWith(p)) return false;
  return /[/:@]$/.test(p) || ref.length === p.length || '/:@'.includes(ref[p.length]!);
}

/** A reference with its registry and Docker Hub's `library/` spelt out: `nginx:1` -> `docker.io/library/nginx:1`. */
export function qualified(image: string): string {
  const host = registryHostOf(image);
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const named = first.includes('.') || first.includes(':') || first === 'localhost';
  const rest = named ? image.slice(slash + 1) : image;
  return `${host}/${host === 'docker.io' && !rest.includes('/') && !(named && rest === '') ? `library/${rest}` : rest}`;
}

function listed(items: readonly string[]): string {
  return items.length ? items.join(', ') : 'none';
}
