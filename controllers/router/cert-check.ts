import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CertRecord } from '../../api/records.js';

/**
 * Why haproxy could not serve a certificate record, or undefined if it can: the leaf (the
 * first PEM block) must parse, the key must parse and be the leaf's. Checked before haproxy
 * sees it, since one bad certificate would make haproxy refuse the whole config.
 */
export function certProblem(record: Pick<CertRecord, 'cert' | 'key'>): string | undefined {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(record.cert);
  } catch (err) {
    return `the certificate does not parse: ${(err as Error).message}`;
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(record.key))) return 'the key does not match the certificate';
  } catch (err) {
    return `the key does not parse: ${(err as Error).message}`;
  }
  return undefined;
}

/** The PEM file haproxy reads: the chain, then the key. */
export function pemBundle(record: Pick<CertRecord, 'cert' | 'key'>): string {
  const block = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return block(record.cert) + block(record.key);
}
