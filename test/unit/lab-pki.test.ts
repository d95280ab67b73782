import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { labLayout } from '../../lab/lab-layout.js';
import { ensureLabPki, etcdFlags, etcdServerTlsArgs, labClientConfig, labEtcdEnv, labEtcdUrl } from '../../lab/lab-pki.js';
import { checkEtcdTls } from '../../src/etcd/etcd-tls.js';

/** A lab's certificates (real openssl, a temporary state root) and what its processes are given. */
describe('lab pki', () => {
  const lab = labLayout('pkunit', mkdtempSync(join(tmpdir(), 'dokkaa-lab-pki-')));

  it('makes the CA, etcd-server for the bridge address, controller, admin and one per node, once', () => {
    assert.deepEqual(ensureLabPki(lab, ['n1', 'n2']), ['ca', 'etcd-server', 'controller', 'admin', 'node-n1', 'node-n2']);
    assert.deepEqual(ensureLabPki(lab, ['n1', 'n2', 'n3']), ['node-n3']);
    const server = new X509Certificate(readFileSync(join(lab.pkiDir, 'etcd-server.crt')));
    assert.match(server.subjectAltName ?? '', new RegExp(`IP Address:${lab.bridgeAddress.replace(/\./g, '\\.')}`));
  });

  it('gives each process its own certificate, all valid for the lab CA', () => {
    const node = labClientConfig(lab, { node: 'n2' });
    assert.equal(node.etcd[0], `https://${lab.bridgeAddress}:23790`);
    assert.equal(checkEtcdTls({ ca: node.etcdCa!, cert: node.etcdCert!, key: node.etcdKey! }, new Date()).subject, 'CN=node-n2');
    assert.deepEqual(etcdFlags(lab, 'controller'), ['--etcd', node.etcd[0], '--etcd-ca', join(lab.pkiDir, 'ca.crt'), '--etcd-cert', join(lab.pkiDir, 'controller.crt'), '--etcd-key', join(lab.pkiDir, 'controller.key')]);
    assert.equal(labEtcdEnv(lab).DOKKAA_ETCD_CERT, join(lab.pkiDir, 'admin.crt'));
    assert.deepEqual(etcdServerTlsArgs(lab), ['--cert-file', join(lab.pkiDir, 'etcd-server.crt'), '--key-file', join(lab.pkiDir, 'etcd-server.key'), '--client-cert-auth', '--trusted-ca-file', join(lab.pkiDir, 'ca.crt')]);
  });

  it('keeps plain http, and makes nothing, for a lab without TLS', () => {
    const plain = { ...labLayout('pkplain', mkdtempSync(join(tmpdir(), 'dokkaa-lab-pki-'))), tls: false };
    assert.deepEqual(ensureLabPki(plain, ['n1']), []);
    assert.ok(!existsSync(plain.pkiDir));
    assert.equal(labEtcdUrl(plain), `http://${plain.bridgeAddress}:23790`);
    assert.deepEqual(etcdFlags(plain, { node: 'n1' }), ['--etcd', labEtcdUrl(plain)]);
    assert.deepEqual(etcdServerTlsArgs(plain), []);
  });
});
