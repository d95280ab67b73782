import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pem {
  cert: string;
  key: string;
}

/** A throwaway CA made with the openssl CLI (what an operator would do), in `dir`. */
export async function makeCa(dir: string, name = 'test-ca'): Promise<Pem & { certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`]);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** A server certificate for `host` (its SAN) signed by `ca`. */
export async function serverCert(dir: string, ca: { certFile: string; keyFile: string }, host: string): Promise<Pem> {
  const base = join(dir, host.replace(/\*/g, '_'));
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${host}`]);
  writeFileSync(`${base}.ext`, `subjectAltName=DNS:${host}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', `${base}.ext`]);
  return { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
}

/** A self-signed certificate for `host`. */
export async function selfSignedCert(dir: string, host: string): Promise<Pem> {
  const ca = await makeCa(dir, `self-${host.replace(/\*/g, '_')}`);
  return serverCert(dir, ca, host);
}
