import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Keys } from '../api/keys.js';
import { ClusterKeyRecord, decodeRecord } from '../api/records.js';
import { generateSealKeyPair, publicKeyOf } from '../src/crypto/seal.js';
import type { LabState } from './lab-state.js';
import { labEtcdOptions } from './lab-pki.js';

/** The lab's cluster key file (what `dokkaa cluster-key init --out` makes), for its controllers only: agents get none. */
export function clusterKeyFile(state: LabState): string {
  return join(state.stateDir, 'cluster.key');
}

/**
 * The lab has a cluster key: its private half in the lab's directory (mode 0600), its public
 * half at `cluster-key` in the lab's etcd. Made once; afterwards only the record is put back
 * if it went missing. True if it changed something.
 */
export async function ensureClusterKey(state: LabState): Promise<boolean> {
  const file = clusterKeyFile(state);
  let made = false;
  if (!existsSync(file)) {
    writeFileSync(file, `${generateSealKeyPair().privateKey}\n`, { mode: 0o600, flag: 'wx' });
    made = true;
  }
  const publicKey = publicKeyOf(readFileSync(file, 'utf8').trim());
  const keys = new Keys(state.prefix);
  const etcd = new Etcd3(labEtcdOptions(state, { dialTimeout: 3_000 }));
  try {
    const stored = decodeRecord(ClusterKeyRecord, await etcd.get(keys.clusterKey).string());
    if (stored?.publicKey === publicKey) return made;
    const record: ClusterKeyRecord = { publicKey, createdAt: new Date().toISOString() };
    await etcd.put(keys.clusterKey).value(JSON.stringify(record));
    return true;
  } finally {
    etcd.close();
  }
}
