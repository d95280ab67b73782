import { nameCovers } from '../api/certificates.js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CertRecord } from '../api/records.js';

/**
 * What `dokkaa cert add` checks before it writes anything, so the router is never handed a
 * certificate it would fail to load or serve for the wrong name. Pure but for node:crypto's
 * parsing; `now` is given.
 */

/** The reason a certificate is refused; the message is printed as is. */
export class CertificateError extends Error {}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The DNS names a certificate is for: its SAN DNS entries, or its subject CN if it has none (RFC 6125 6.4.4). */
export function certificateNames(x509: X509Certificate): string[] {
  const san = (x509.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4).toLowerCase());
  if (san.length > 0) return san;
  return x509.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3).toLowerCase());
}

/** One line of a distinguished name: `CN=R3, O=Let's Encrypt, C=US`. */
function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

/**
 * Checks a PEM certificate (a chain is fine, leaf first, each issued by the next) and its
 * PEM private key for `host` at `now`, and returns the record to store. Throws a
 * CertificateError naming the first problem: unreadable certificate or key, a key that is
 * not the leaf's, a chain out of order, an expired leaf, or names that do not cover `host`.
 */
export function checkCertificate(certPem: string, keyPem: string, host: string, now: Date): CertRecord {
  const blocks = certPem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new CertificateError('the certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  const chain = blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (err) {
      throw new CertificateError(`certificate ${i + 1} of the file does not parse: ${(err as Error).message}`);
    }
  });
  const leaf = chain[0]!;
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertificateError(`the key file does not hold a readable, unencrypted PEM private key: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new CertificateError(`the key does not match the certificate (subject ${oneLine(leaf.subject)}); the certificate file must start with the leaf certificate`);
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!)) throw new CertificateError(`the chain is out of order: certificate ${i + 2} of the file did not issue certificate ${i + 1} (each must be followed by its issuer)`);
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) throw new CertificateError(`the certificate expired on ${notAfter.toISOString()}`);
  const names = certificateNames(leaf);
  if (!names.some((n) => nameCovers(n, host))) throw new CertificateError(`the certificate is for ${names.join(', ') || 'no DNS name'}, not ${host}`);
  return {
    cert: blocks.join('\n') + '\n',
    key: keyPem.trim() + '\n',
    issuer: oneLine(leaf.issuer),
    notAfter: notAfter.toISOString(),
    updated: now.toISOString(),
  };
}

/** Whole days from `now` until `notAfter` (negative once expired). */
export function daysLeft(notAfter: string, now: Date): number {
  return Math.floor((new Date(notAfter).getTime() - now.getTime()) / 86_400_000);
}
