import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, BadValueError } from '../../src/config.js';
import { checkEtcdTls, ETCD_SERVER_NAME, etcdClientOptions, EtcdTlsError, etcdUserOf, explainEtcdError } from '../../src/etcd/etcd-tls.js';
import { nodeCertName, pkiFiles, pkiInit, pkiIssue, pkiList, PkiError } from '../../src/pki/pki.js';
import { parseCommandLine } from '../../cli/program.js';

/** The pki module with the real openssl, and the checks clients make of its files. */

const DAY = 86_400_000;
const cert = (file: string) => new X509Certificate(readFileSync(file));
const mode = (file: string) => statSync(file).mode & 0o777;

describe('pki (openssl)', () => {
  let dir: string;
  let other: string;
  before(() => {
    const root = mkdtempSync(join(tmpdir(), 'dokkaa-pki-'));
    dir = join(root, 'pki');
    other = join(root, 'other');
    pkiInit({ dir, sans: ['10.9.8.7', 'etcd.example.net'] });
    pkiIssue(dir, nodeCertName('n1'));
    pkiInit({ dir: other });
  });

  it('makes a CA and etcd-server, controller and admin certificates, files with safe modes', () => {
    assert.equal(mode(dir), 0o700);
    for (const name of ['ca', 'etcd-server', 'controller', 'admin', 'node-n1']) {
      assert.equal(mode(pkiFiles(dir, name).key), 0o600, `${name}.key`);
      assert.equal(mode(pkiFiles(dir, name).cert), 0o644, `${name}.crt`);
    }
    const ca = cert(pkiFiles(dir, 'ca').cert);
    assert.ok(ca.ca);
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(new Date(ca.validTo).getTime() - Date.now() > 3640 * DAY);
  });

  it('names the clients by their etcd user: CN admin, controller, node-<NODE>, each for client authentication', () => {
    const ca = cert(pkiFiles(dir, 'ca').cert);
    for (const [name, cn] of [['admin', 'admin'], ['controller', 'controller'], ['node-n1', 'node-n1']]) {
      const c = cert(pkiFiles(dir, name!).cert);
      assert.equal(c.subject, `CN=${cn}`);
      assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.2']);
      assert.ok(c.verify(ca.publicKey) && c.checkIssued(ca), `${name} issued by the CA`);
      assert.ok(!c.ca);
      const days = (new Date(c.validTo).getTime() - Date.now()) / DAY;
      assert.ok(days > 364 && days <= 365, `${name} valid for a year, got ${days}`);
    }
  });

  it("gives etcd's server certificate serverAuth and its names: the given ones, etcd, localhost and 127.0.0.1", () => {
    const c = cert(pkiFiles(dir, 'etcd-server').cert);
    assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(c.subjectAltName, `DNS:${ETCD_SERVER_NAME}, DNS:localhost, IP Address:127.0.0.1, IP Address:10.9.8.7, DNS:etcd.example.net`);
  });

  it('keeps what exists on a second init, and renews a leaf with a new key and the same names', () => {
    const before = readFileSync(pkiFiles(dir, 'ca').cert, 'utf8');
    const again = pkiInit({ dir });
    assert.deepEqual(again, { made: [], kept: ['ca', 'etcd-server', 'controller', 'admin'] });
    assert.equal(readFileSync(pkiFiles(dir, 'ca').cert, 'utf8'), before);
    const oldKey = readFileSync(pkiFiles(dir, 'etcd-server').key, 'utf8');
    pkiIssue(dir, 'etcd-server', { days: 30 });
    assert.notEqual(readFileSync(pkiFiles(dir, 'etcd-server').key, 'utf8'), oldKey);
    const renewed = cert(pkiFiles(dir, 'etcd-server').cert);
    assert.match(renewed.subjectAltName ?? '', /IP Address:10\.9\.8\.7, DNS:etcd\.example\.net/);
    assert.equal(mode(pkiFiles(dir, 'etcd-server').key), 0o600);
  });

  it('lists each certificate with CN, role, not-after and days left, and flags expired ones at a later now', () => {
    const rows = pkiList(dir, new Date());
    assert.deepEqual(rows.map((r) => [r.role, r.cn.startsWith('dokkaa-ca-') ? 'dokkaa-ca-*' : r.cn]), [
      ['ca', 'dokkaa-ca-*'], ['admin', 'admin'], ['controller', 'controller'], ['etcd-server', 'etcd'], ['node', 'node-n1'],
    ]);
    assert.ok(rows.every((r) => !r.expired && r.daysLeft >= 29));
    const later = pkiList(dir, new Date(Date.now() + 400 * DAY));
    assert.deepEqual(later.filter((r) => r.expired).map((r) => r.role), ['admin', 'controller', 'etcd-server', 'node']);
    assert.ok(later.find((r) => r.role === 'admin')!.daysLeft < 0);
  });

  it('names the etcd user a process acts as from its certificate, for the log of a refusal', () => {
    assert.equal(etcdUserOf({ etcdCert: pkiFiles(dir, nodeCertName('n1')).cert }), 'node-n1');
    assert.equal(etcdUserOf({ etcdCert: pkiFiles(dir, 'controller').cert }), 'controller');
    assert.equal(etcdUserOf({}), 'anonymous');
    assert.equal(etcdUserOf({ etcdCert: join(dir, 'missing.crt') }), 'unknown');
  });

  it('refuses bad names and sans, and issuing without a CA', () => {
    assert.throws(() => nodeCertName('a/b'), PkiError);
    assert.throws(() => pkiIssue(dir, 'root'), { message: /expected etcd-server, controller, admin or node-NODE/ });
    assert.throws(() => pkiIssue(dir, 'admin', { sans: ['x'] }), { message: /--etcd-san is for etcd-server only/ });
    assert.throws(() => pkiIssue(dir, 'etcd-server', { sans: ['not a name'] }), { message: /--etcd-san: expected an IP address or a DNS name/ });
    const empty = mkdtempSync(join(tmpdir(), 'dokkaa-pki-empty-'));
    assert.throws(() => pkiIssue(empty, 'admin'), { message: /no CA .* run dokkaa pki init/ });
    rmSync(empty, { recursive: true });
  });

  describe('checkEtcdTls', () => {
    const files = (name: string, overrides: Partial<Record<'ca' | 'cert' | 'key', string>> = {}) => ({ ca: pkiFiles(dir, 'ca').cert, ...pkiFiles(dir, name), ...overrides });

    it('accepts a client certificate of the CA with its key, and says when it expires', () => {
      const now = new Date();
      const c = checkEtcdTls(files('node-n1'), now);
      assert.equal(c.subject, 'CN=node-n1');
      assert.ok(c.daysLeft >= 364 && c.daysLeft <= 365);
    });

    it('refuses an expired certificate at a later now (injected), naming the file', () => {
      const f = files('admin');
      assert.throws(() => checkEtcdTls(f, new Date(Date.now() + 366 * DAY)), (err: Error) => err instanceof EtcdTlsError && err.message.startsWith(`${f.cert} (--etcd-cert): expired on `));
    });

    it('refuses a certificate not yet valid (a clock behind)', () => {
      assert.throws(() => checkEtcdTls(files('admin'), new Date(Date.now() - 2 * DAY)), { message: /\(--etcd-ca\): not valid before .*clock/ });
    });

    it('refuses a key that is not the certificate\'s', () => {
      const f = files('admin', { key: pkiFiles(dir, 'controller').key });
      assert.throws(() => checkEtcdTls(f, new Date()), { message: `${f.key} (--etcd-key): key mismatch: it is not the key of the certificate in ${f.cert} (CN=admin)` });
    });

    it('refuses a certificate of another CA, naming both', () => {
      const f = files('admin', { cert: pkiFiles(other, 'admin').cert, key: pkiFiles(other, 'admin').key });
      assert.throws(() => checkEtcdTls(f, new Date()), { message: new RegExp(`^${f.cert} \\(--etcd-cert\\): unknown CA: it was issued by CN=dokkaa-ca-\\w+, not by the CA in ${f.ca} \\(CN=dokkaa-ca-\\w+\\)$`) });
    });

    it("refuses etcd's server certificate as a client's, a leaf as CA, and unreadable files", () => {
      assert.throws(() => checkEtcdTls(files('etcd-server'), new Date()), { message: /not a client certificate/ });
      assert.throws(() => checkEtcdTls(files('admin', { ca: pkiFiles(dir, 'controller').cert }), new Date()), { message: /\(--etcd-ca\): not a CA certificate/ });
      assert.throws(() => checkEtcdTls(files('admin', { cert: join(dir, 'missing.crt') }), new Date()), { message: `${join(dir, 'missing.crt')} (--etcd-cert): cannot read it: ENOENT` });
      assert.throws(() => checkEtcdTls(files('admin', { cert: pkiFiles(dir, 'admin').key }), new Date()), { message: /\(--etcd-cert\): not a PEM certificate/ });
    });
  });

  describe('etcdClientOptions and explainEtcdError', () => {
    const tls = () => ({ etcd: ['https://10.9.8.7:2379'], etcdCa: pkiFiles(dir, 'ca').cert, etcdCert: pkiFiles(dir, 'admin').cert, etcdKey: pkiFiles(dir, 'admin').key });

    it('gives plain options without TLS files, and credentials with them', () => {
      assert.deepEqual(etcdClientOptions({ etcd: ['http://127.0.0.1:2379'] }, new Date(), { dialTimeout: 5 }), { dialTimeout: 5, hosts: ['http://127.0.0.1:2379'] });
      const o = etcdClientOptions(tls(), new Date());
      assert.deepEqual(o.credentials?.rootCertificate, readFileSync(pkiFiles(dir, 'ca').cert));
      // By IP address, the server certificate is checked against the name every etcd-server carries (no DEP0123).
      assert.equal(o.grpcOptions?.['grpc.ssl_target_name_override'], ETCD_SERVER_NAME);
      assert.equal(etcdClientOptions({ ...tls(), etcd: ['https://etcd.example.net:2379'] }, new Date()).grpcOptions, undefined);
    });

    it('checks the files when it builds the options', () => {
      assert.throws(() => etcdClientOptions(tls(), new Date(Date.now() + 400 * DAY)), EtcdTlsError);
    });

    it('turns handshake failures into messages naming the file', () => {
      const c = tls();
      const unknownCa = explainEtcdError(new Error('14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate'), c) as Error;
      assert.ok(unknownCa instanceof EtcdTlsError && unknownCa.message.startsWith(`${c.etcdCa} (--etcd-ca): unknown CA`));
      const refused = explainEtcdError(new Error('14 UNAVAILABLE: ... ssl3_read_bytes:sslv3 alert bad certificate ... SSL alert number 42'), c) as Error;
      assert.ok(refused instanceof EtcdTlsError && refused.message.startsWith(`${c.etcdCert} (--etcd-cert): etcd refused this client certificate`));
      const other = new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED');
      assert.equal(explainEtcdError(other, c), other);
    });
  });
});

describe('etcd TLS settings', () => {
  const files = { DOKKAA_ETCD_CA: '/p/ca.crt', DOKKAA_ETCD_CERT: '/p/admin.crt', DOKKAA_ETCD_KEY: '/p/admin.key' };

  it('reads --etcd-ca/--etcd-cert/--etcd-key, or DOKKAA_ETCD_CA/_CERT/_KEY', () => {
    const c = loadConfig({ etcd: 'https://e:2379' }, files);
    assert.deepEqual([c.etcdCa, c.etcdCert, c.etcdKey], ['/p/ca.crt', '/p/admin.crt', '/p/admin.key']);
    const flags = parseCommandLine(['nodes', '--etcd', 'https://e:2379', '--etcd-ca', 'a', '--etcd-cert', 'b', '--etcd-key', 'c']);
    assert.ok(flags.command === 'nodes');
    assert.deepEqual(loadConfig(flags.flags, {}).etcdKey, 'c');
  });

  it('wants all three files with https:// endpoints, and none with http://', () => {
    assert.throws(() => loadConfig({ etcd: 'https://e:2379', etcdCa: 'a' }, {}), (e: Error) => e instanceof BadValueError && /needs all of .* missing --etcd-cert, --etcd-key/.test(e.message));
    assert.throws(() => loadConfig({ etcd: 'http://e:2379' }, files), { message: /expected https:\/\/ endpoints/ });
    assert.throws(() => loadConfig({ etcd: 'https://e:2379' }, {}), { message: /https:\/\/, which needs --etcd-ca/ });
    assert.equal(loadConfig({}, {}).etcdCa, undefined);
  });
});
