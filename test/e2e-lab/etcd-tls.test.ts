import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3, EtcdPermissionDeniedError, type IOptions } from 'etcd3';
import { Keys } from '../../api/keys.js';
import { labClientConfig, labEtcdOptions } from '../../lab/index.js';
import { ETCD_SERVER_NAME } from '../../src/etcd/etcd-tls.js';
import { pkiFiles, pkiInit } from '../../src/pki/pki.js';
import { useSharedLab } from './support/lab-world.js';

const LAB = 'pktls';
const BIN = fileURLToPath(new URL('../../../bin/dokkaa.js', import.meta.url));

/** The CLI with exactly these arguments (no lab flags added): exit code and output. */
function dokkaa(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** One read with a raw etcd3 client (no checks of ours in the way): what etcd itself makes of it. */
async function read(options: IOptions): Promise<string> {
  const client = new Etcd3({ ...options, dialTimeout: 3_000 });
  try {
    await client.get('/probe').string();
    return 'read';
  } catch (err) {
    return (err as Error).message;
  } finally {
    client.close();
  }
}

/**
 * The lab's etcd runs with TLS and client-certificate authentication by default: its own
 * agents and controllers reach it with their certificates, and it refuses a client without
 * one and a client whose certificate another CA issued. The CLI given a wrong certificate
 * fails before it does anything, naming the file.
 */
describe('TLS to etcd on the lab', () => {
  const lab = useSharedLab({ name: LAB, nodes: 2, ttlSeconds: 4 });
  let otherDir: string;
  before(() => {
    otherDir = join(mkdtempSync(join(tmpdir(), 'dokkaa-othe-ca-')), 'pki');
    pkiInit({ dir: otherDir });
  });

  it('runs etcd on https with client certificates, agents and controllers with their own certificates', async () => {
    const w = lab();
    assert.match(w.state.etcdClientUrl, /^https:\/\//);
    const etcdArgv = w.currentState().etcd!.argv;
    assert.ok(etcdArgv.includes('--client-cert-auth') && etcdArgv.includes('--trusted-ca-file'), etcdArgv.join(' '));
    for (const n of w.currentState().nodes) {
      const argv = n.agent!.argv;
      assert.equal(argv[argv.indexOf('--etcd-cert') + 1], join(w.state.pkiDir, `node-${n.name}.crt`));
    }
    const ctl = w.currentState().controllers[0]!.argv;
    assert.equal(ctl[ctl.indexOf('--etcd-cert') + 1], join(w.state.pkiDir, 'controller.crt'));
    // They got through: every node registered and a controller leads (LabWorld.up waited for it).
    const keys = new Keys(w.state.prefix);
    assert.deepEqual(Object.keys(await w.etcd.getAll().prefix(keys.nodes).strings()).map((k) => keys.parseNode(k)).sort(), [...w.nodeNames].sort());
    assert.ok(await w.etcd.get(keys.leader).string());
  });

  it("with an agent's certificate, writes only what that host owns and reads no other host's secrets (etcd roles)", async () => {
    const w = lab();
    const keys = new Keys(w.state.prefix);
    const as = (who: 'controller' | { node: string }) => new Etcd3(labEtcdOptions(w.state, { dialTimeout: 3_000 }, who));
    const n1 = as({ node: 'n1' });
    const controller = as('controller');
    const refused = async (what: string, op: () => Promise<unknown>) =>
      assert.rejects(op, (err: unknown) => err instanceof EtcdPermissionDeniedError, `${what}: etcd refuses it`);
    try {
      await refused('a manifest', () => n1.put(keys.manifest('tls', 'web')).value('{"image":"dokkaa/busybox"}').exec());
      await refused('a placement, even on its own host', () => n1.put(keys.placement('n1', 'tls', 'web', 0)).value('{}').exec());
      await refused("another host's node record", () => n1.put(keys.node('n2')).value('{}').exec());
      await refused("another host's replica record", () => n1.put(keys.replica('n2', 'tls', 'web', 0)).value('{}').exec());
      await refused("another host's endpoint", () => n1.put(keys.endpoint('n2', 'tls', 'www', 'web.0.n2')).value('{}').exec());
      await refused("a secret sealed for another host", () => n1.get(keys.sealedCopy('n2', 'tls', 'db-password')).string());
      await refused('the secrets themselves', () => n1.getAll().prefix(keys.secrets).strings());
      await refused('the admission policy', () => n1.put(keys.policy).value('{}').exec());
      await refused('the admission policy, by the controllers', () => controller.put(keys.policy).value('{}').exec());
      // What the host owns and needs goes through.
      await n1.put(keys.replica('n1', 'tls', 'probe', 0)).value('{}').exec();
      await n1.delete().key(keys.replica('n1', 'tls', 'probe', 0)).exec();
      await n1.getAll().prefix(keys.nodePlacements('n1')).strings();
      await n1.get(keys.sealedCopy('n1', 'tls', 'db-password')).string();
    } finally {
      n1.close();
      controller.close();
    }
  });

  it('refuses a client without a certificate, over TLS or in the clear', async () => {
    const w = lab();
    const url = w.state.etcdClientUrl;
    const ca = readFileSync(pkiFiles(w.state.pkiDir, 'ca').cert);
    const noCert = await read({ hosts: url, credentials: { rootCertificate: ca }, grpcOptions: { 'grpc.ssl_target_name_override': ETCD_SERVER_NAME } });
    assert.match(noCert, /UNAVAILABLE.*(alert|certificate)/is);
    const plain = await read({ hosts: url.replace('https://', 'http://') });
    assert.match(plain, /UNAVAILABLE/);
    // The admin's certificate, the same way, is let in.
    const admin = labClientConfig(w.state);
    assert.equal(await read({ hosts: url, credentials: { rootCertificate: ca, certChain: readFileSync(admin.etcdCert!), privateKey: readFileSync(admin.etcdKey!) }, grpcOptions: { 'grpc.ssl_target_name_override': ETCD_SERVER_NAME } }), 'read');
  });

  it('refuses a client whose certificate another CA issued', async () => {
    const w = lab();
    const other = pkiFiles(otherDir, 'admin');
    const refused = await read({
      hosts: w.state.etcdClientUrl,
      credentials: { rootCertificate: readFileSync(pkiFiles(w.state.pkiDir, 'ca').cert), certChain: readFileSync(other.cert), privateKey: readFileSync(other.key) },
      grpcOptions: { 'grpc.ssl_target_name_override': ETCD_SERVER_NAME },
    });
    assert.match(refused, /UNAVAILABLE.*alert bad certificate/s);
  });

  it('the CLI reaches etcd with the admin certificate, and exits non-zero naming the file when a certificate is wrong', async () => {
    const w = lab();
    const url = w.state.etcdClientUrl;
    const ca = pkiFiles(w.state.pkiDir, 'ca').cert;
    const admin = pkiFiles(w.state.pkiDir, 'admin');
    const other = pkiFiles(otherDir, 'admin');
    // Five runs of the CLI, each on its own: started together (each takes a second or two to start).
    const [ok, foreign, mismatch, wrongCa, none] = await Promise.all([
      dokkaa('nodes', ...w.cliFlags()),
      // Another CA's client certificate: refused before any call.
      dokkaa('nodes', '--etcd', url, '--etcd-ca', ca, '--etcd-cert', other.cert, '--etcd-key', other.key),
      // A key of another certificate.
      dokkaa('status', '--etcd', url, '--etcd-ca', ca, '--etcd-cert', admin.cert, '--etcd-key', pkiFiles(w.state.pkiDir, 'controller').key),
      // A consistent set from another cluster: the handshake fails, and the message names the CA file.
      dokkaa('nodes', '--etcd', url, '--etcd-ca', pkiFiles(otherDir, 'ca').cert, '--etcd-cert', other.cert, '--etcd-key', other.key),
      // No certificate at all for an https:// endpoint: a usage error.
      dokkaa('nodes', '--etcd', url),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /n1/);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, new RegExp(`^error: ${other.cert} \\(--etcd-cert\\): unknown CA`));
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /controller\.key \(--etcd-key\): key mismatch/);
    assert.equal(wrongCa.code, 1);
    assert.match(wrongCa.stderr, new RegExp(`^error: ${pkiFiles(otherDir, 'ca').cert} \\(--etcd-ca\\): unknown CA: etcd's server certificate at ${url} was not issued by this CA`));
    assert.equal(none.code, 2);
    assert.match(none.stderr, /needs --etcd-ca, --etcd-cert and --etcd-key/);
  });

  it('a controller given a certificate etcd refuses exits at start, naming the file', async () => {
    const w = lab();
    const other = pkiFiles(otherDir, 'controller');
    const r = await dokkaa('controller', '--etcd', w.state.etcdClientUrl, '--etcd-ca', pkiFiles(otherDir, 'ca').cert, '--etcd-cert', other.cert, '--etcd-key', other.key, '--prefix', '/pktls-refused');
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${pkiFiles(otherDir, 'ca').cert} \\(--etcd-ca\\): unknown CA`));
  });
});
