import { readFileSync } from 'node:fs';
import { canonicalJson } from '../api/canonical-json.js';
import { checkRecord, PolicyRecord } from '../api/records.js';
import type { Config } from '../src/config.js';
import { UsageError, withStore } from './client-commands.js';

/**
 * `dokkaa policy set -f FILE`: checks the policy (docs/policy.md) and writes it to the
 * `policy` key as written (memory quantities stay as the admin spelt them). A bad file
 * writes nothing. Only admins may write the key (etcd roles).
 */
export async function policySet(options: { file: string }, config: Config): Promise<string> {
  let text: string;
  try {
    text = readFileSync(options.file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the policy file ${options.file}: ${(err as Error).message}`);
  }
  const checked = checkRecord(PolicyRecord, text, '(policy)');
  if (!checked.ok) throw new UsageError(`refusing the policy in ${options.file}, nothing written:\n  ${checked.error.split('; ').join('\n  ')}`);
  return withStore(config, async (store, keys) => {
    const before = await store.get(keys.policy);
    await store.put(keys.policy, canonicalJson(JSON.parse(text)));
    return `policy ${before ? 'replaced' : 'set'}: ${rulesOf(checked.value)}; every manifest is admitted again`;
  });
}

/** `dokkaa policy show`: the stored policy, or why it is not one (the scheduler then keeps the last valid policy it read). */
export async function policyShow(config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const kv = await store.get(keys.policy);
    if (!kv) return 'no policy: every manifest is admitted (dokkaa policy set -f FILE)';
    const checked = checkRecord(PolicyRecord, kv.value, '(policy)');
    if (!checked.ok) {
      return [
        `the stored policy (revision ${kv.modRevision}) is INVALID: ${checked.error}`,
        'the scheduler keeps the last valid policy it read; one started since admits nothing new until it is fixed',
        'stored text:',
        kv.value,
      ].join('\n');
    }
    return `${JSON.stringify(JSON.parse(kv.value), null, 2)}\n(revision ${kv.modRevision}: ${rulesOf(checked.value)})`;
  });
}

/** Which rules a policy sets, for a one-line summary. */
function rulesOf(policy: PolicyRecord): string {
  const set = (['registries', 'hostPaths', 'quotas', 'privileged'] as const).filter((r) => policy[r] !== undefined);
  return set.length ? `rules ${set.join(', ')}` : 'no rules';
}
