import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nameCovers } from '../../api/certificates.js';
import { CertificateError, checkCertificate, daysLeft } from '../../cli/certificates.js';

/** A CA and certificates it issued, made with openssl as a user would. */
function makeCerts(dir: string): Record<string, string> {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=Test CA/O=Dokkaa');
  const leaf = (name: string, subject: string, san?: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    writeFileSync(join(dir, `${name}.ext`), san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '10', '-extfile', `${name}.ext`);
  };
  leaf('shop', '/CN=ignored.example.net', 'DNS:shop.example.com,DNS:*.example.org');
  leaf('cn', '/CN=legacy.example.com');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { caPem: read('ca.pem'), caKey: read('ca.key'), shopPem: read('shop.pem'), shopKey: read('shop.key'), cnPem: read('cn.pem'), cnKey: read('cn.key') };
}

describe('nameCovers (RFC 6125)', () => {
  it('matches a name exactly, any case', () => {
    assert.ok(nameCovers('Shop.Example.com', 'shop.example.COM'));
    assert.ok(!nameCovers('shop.example.com', 'www.shop.example.com'));
  });

  it('lets *.name cover exactly one label under name, and the wildcard route itself', () => {
    assert.ok(nameCovers('*.example.org', 'a.example.org'));
    assert.ok(nameCovers('*.example.org', '*.example.org'));
    assert.ok(!nameCovers('*.example.org', 'example.org'));
    assert.ok(!nameCovers('*.example.org', 'a.b.example.org'));
    assert.ok(!nameCovers('*.com', 'example.com'), 'not over a single label');
    assert.ok(!nameCovers('a.example.org', '*.example.org'), 'a plain name does not cover a wildcard route');
    assert.ok(!nameCovers('f*.example.org', 'foo.example.org'), 'a partial-label wildcard is not honoured');
  });
});

describe('checkCertificate', () => {
  let c: Record<string, string>;
  const now = new Date();
  before(() => {
    c = makeCerts(mkdtempSync(join(tmpdir(), 'dokkaa-certs-')));
  });

  it('returns the record to store: the chain, the key, the issuer and the expiry', () => {
    const rec = checkCertificate(c.shopPem! + c.caPem!, c.shopKey!, 'shop.example.com', now);
    assert.equal((rec.cert.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
    assert.equal(rec.key, c.shopKey!.trim() + '\n');
    assert.equal(rec.issuer, 'CN=Test CA, O=Dokkaa');
    assert.equal(rec.updated, now.toISOString());
    assert.ok([9, 10].includes(daysLeft(rec.notAfter!, now)), 'issued for 10 days');
    assert.ok(checkCertificate(c.shopPem!, c.shopKey!, 'shop.example.com', now));
  });

  it('covers HOST by the SAN DNS entries, wildcards included, and by the CN only without SAN', () => {
    assert.ok(checkCertificate(c.shopPem!, c.shopKey!, 'www.example.org', now));
    assert.ok(checkCertificate(c.shopPem!, c.shopKey!, '*.example.org', now));
    assert.throws(() => checkCertificate(c.shopPem!, c.shopKey!, 'ignored.example.net', now), /the certificate is for shop\.example\.com, \*\.example\.org, not ignored\.example\.net/);
    assert.throws(() => checkCertificate(c.shopPem!, c.shopKey!, 'a.b.example.org', now), CertificateError);
    assert.ok(checkCertificate(c.cnPem!, c.cnKey!, 'legacy.example.com', now));
  });

  it('refuses a key that is not the certificate\'s, or a chain with the leaf not first', () => {
    assert.throws(() => checkCertificate(c.shopPem!, c.cnKey!, 'shop.example.com', now), /^Error: the key does not match the certificate \(subject CN=ignored\.example\.net\)/);
    assert.throws(() => checkCertificate(c.caPem! + c.shopPem!, c.shopKey!, 'shop.example.com', now), /the key does not match/);
    assert.throws(() => checkCertificate(c.shopPem! + c.cnPem!, c.shopKey!, 'shop.example.com', now), /the chain is out of order: certificate 2 of the file did not issue certificate 1/);
  });

  it('refuses what does not parse, saying which file', () => {
    assert.throws(() => checkCertificate('hello', c.shopKey!, 'shop.example.com', now), /holds no PEM certificate/);
    assert.throws(() => checkCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', c.shopKey!, 'shop.example.com', now), /certificate 1 of the file does not parse/);
    assert.throws(() => checkCertificate(c.shopPem!, c.shopPem!, 'shop.example.com', now), /the key file does not hold a readable, unencrypted PEM private key/);
  });

  it('refuses an expired certificate', () => {
    const later = new Date(now.getTime() + 11 * 86_400_000);
    assert.throws(() => checkCertificate(c.shopPem!, c.shopKey!, 'shop.example.com', later), /^Error: the certificate expired on \d{4}-\d\d-\d\dT/);
  });
});
