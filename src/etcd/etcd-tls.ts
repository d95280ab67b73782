import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { Etcd3, type IOptions } from 'etcd3';
import type { Config } from '../config.js';

/**
 * TLS to etcd: the one place etcd3 client options are built from Config (every process,
 * the CLI, the lab, benchmarks and tests go through etcdClientOptions), the checks of the
 * certificate files made before a client is built, and the translation of TLS handshake
 * failures into messages that name the file to fix.
 *
 * etcd3 clients cannot swap credentials while they run: renewed files are read at the
 * next start (docs/security.md, "Rotation").
 */

/** What a client needs to reach etcd: Config's endpoints and TLS files. */
export type EtcdClientConfig = Pick<Config, 'etcd' | 'etcdCa' | 'etcdCert' | 'etcdKey'>;

/** The three files of TLS to etcd, by the flag that names them. */
export interface EtcdTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/**
 * The name clients check etcd's server certificate against when they reach it by IP
 * address: `dokkaa pki init` always puts it in the certificate's names. Without it grpc-js
 * hands the IP to tls.connect as the SNI name, which Node refuses to do silently (DEP0123,
 * RFC 6066); a DNS name avoids that, and only etcd's server certificate carries this one.
 */
export const ETCD_SERVER_NAME = 'etcd';

/** How soon before its expiry a client certificate is logged as due for renewal. */
export const RENEW_WITHIN_DAYS = 30;

/** A certificate or key file that cannot be used; the message names the file and why. */
export class EtcdTlsError extends Error {}

export function tlsFilesOf(config: EtcdClientConfig): EtcdTlsFiles | undefined {
  return config.etcdCa && config.etcdCert && config.etcdKey ? { ca: config.etcdCa, cert: config.etcdCert, key: config.etcdKey } : undefined;
}

/** What checkEtcdTls found out about the client certificate. */
export interface ClientCertificate {
  subject: string;
  notAfter: Date;
  /** Whole days left at `now` (0 on its last day). */
  daysLeft: number;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Checks the files at `now`: each readable and in PEM, the CA a CA and valid, the client
 * certificate valid (not expired, not yet valid), for client authentication, issued by
 * that CA and matching the key. Throws EtcdTlsError naming the file and the reason.
 */
export function checkEtcdTls(files: EtcdTlsFiles, now: Date): ClientCertificate {
  const ca = certificateIn(files.ca, '--etcd-ca');
  const cert = certificateIn(files.cert, '--etcd-cert');
  const key = keyIn(files.key);
  if (!ca.ca) throw new EtcdTlsError(`${files.ca} (--etcd-ca): not a CA certificate (${cnOf(ca.subject)} has no basicConstraints CA:TRUE)`);
  checkValidity(ca, files.ca, '--etcd-ca', now);
  checkValidity(cert, files.cert, '--etcd-cert', now);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new EtcdTlsError(`${files.cert} (--etcd-cert): unknown CA: it was issued by ${cnOf(cert.issuer)}, not by the CA in ${files.ca} (${cnOf(ca.subject)})`);
  }
  if (!cert.checkPrivateKey(key)) throw new EtcdTlsError(`${files.key} (--etcd-key): key mismatch: it is not the key of the certificate in ${files.cert} (${cnOf(cert.subject)})`);
  if (cert.keyUsage !== undefined && !cert.keyUsage.includes(CLIENT_AUTH)) {
    throw new EtcdTlsError(`${files.cert} (--etcd-cert): not a client certificate (its extended key usage lacks clientAuth), so etcd refuses it`);
  }
  const notAfter = new Date(cert.validTo);
  return { subject: cnOf(cert.subject), notAfter, daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000) };
}

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new EtcdTlsError(`${file} (${flag}): cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function certificateIn(file: string, flag: string): X509Certificate {
  const text = readText(file, flag);
  try {
    return new X509Certificate(text);
  } catch {
    throw new EtcdTlsError(`${file} (${flag}): not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
}

function keyIn(file: string): KeyObject {
  const text = readText(file, '--etcd-key');
  try {
    return createPrivateKey(text);
  } catch {
    throw new EtcdTlsError(`${file} (--etcd-key): not an unencrypted PEM private key`);
  }
}

function checkValidity(cert: X509Certificate, file: string, flag: string, now: Date): void {
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter.getTime() <= now.getTime()) throw new EtcdTlsError(`${file} (${flag}): expired on ${notAfter.toISOString()} (${cnOf(cert.subject)}); renew it (dokkaa pki renew, docs/security.md)`);
  if (notBefore.getTime() > now.getTime()) throw new EtcdTlsError(`${file} (${flag}): not valid before ${notBefore.toISOString()} (is this host's clock right?)`);
}

/**
 * The etcd user a process acts as: its client certificate's CN (etcd's --client-cert-auth),
 * for logs of a refusal; `anonymous` without a certificate, `unknown` if it cannot be read.
 */
export function etcdUserOf(config: Pick<EtcdClientConfig, 'etcdCert'>): string {
  if (!config.etcdCert) return 'anonymous';
  try {
    const cn = cnOf(new X509Certificate(readFileSync(config.etcdCert)).subject);
    return cn.startsWith('CN=') ? cn.slice(3) : cn;
  } catch {
    return 'unknown';
  }
}

/** `CN=admin` from a subject or issuer (their lines are `K=V`). */
export function cnOf(dn: string): string {
  return dn.split('\n').find((l) => l.startsWith('CN=')) ?? dn.split('\n').join(', ');
}

/**
 * The etcd3 options for `config`, after checking its TLS files at `now` (throws
 * EtcdTlsError). `extra` adds client settings (timeouts, gRPC options).
 */
export function etcdClientOptions(config: EtcdClientConfig, now: Date, extra: Omit<IOptions, 'hosts' | 'credentials'> = {}): IOptions {
  const files = tlsFilesOf(config);
  if (!files) return { ...extra, hosts: config.etcd };
  checkEtcdTls(files, now);
  const byIp = config.etcd.some((e) => isIP(hostOf(e)) !== 0);
  return {
    ...extra,
    hosts: config.etcd,
    credentials: { rootCertificate: readFileSync(files.ca), certChain: readFileSync(files.cert), privateKey: readFileSync(files.key) },
    ...(byIp ? { grpcOptions: { ...extra.grpcOptions, 'grpc.ssl_target_name_override': ETCD_SERVER_NAME } } : {}),
  };
}

/** `10.0.0.1` from `https://10.0.0.1:2379`, `::1` from `https://[::1]:2379`. */
function hostOf(endpoint: string): string {
  const rest = endpoint.replace(/^[a-z]+:\/\//, '');
  const bracketed = /^\[([^\]]+)\]/.exec(rest);
  return bracketed ? bracketed[1]! : rest.split(':')[0]!;
}

/**
 * A failed etcd call's error, in words that name what to fix when the TLS handshake was the
 * cause: etcd's certificate not from our CA, ours refused by etcd, or etcd's certificate
 * without the name we check. Any other error is returned as it is.
 */
export function explainEtcdError(err: unknown, config: EtcdClientConfig): unknown {
  const message = err instanceof Error ? err.message : String(err);
  const files = tlsFilesOf(config);
  if (!files) return err;
  if (/self[- ]signed certificate|unable to (verify|get local issuer)|certificate signature failure|CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN/i.test(message)) {
    return new EtcdTlsError(`${files.ca} (--etcd-ca): unknown CA: etcd's server certificate at ${config.etcd.join(',')} was not issued by this CA (${message})`);
  }
  if (/Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID/i.test(message)) {
    return new EtcdTlsError(`etcd's server certificate at ${config.etcd.join(',')} does not name the host${config.etcd.some((e) => isIP(hostOf(e)) !== 0) ? ` (clients reaching etcd by IP address check the name "${ETCD_SERVER_NAME}": dokkaa pki init puts it in etcd-server.crt)` : ''}: ${message}`);
  }
  if (/certificate expired|CERT_HAS_EXPIRED/i.test(message)) {
    return new EtcdTlsError(`etcd's server certificate at ${config.etcd.join(',')} has expired: ${message}`);
  }
  if (/alert (bad certificate|unknown ca|certificate (unknown|expired|revoked|required))|alert number 4[2-9]|SSLV3_ALERT|TLSV1_ALERT|TLSV13_ALERT/i.test(message)) {
    return new EtcdTlsError(`${files.cert} (--etcd-cert): etcd refused this client certificate (not issued by the CA etcd trusts, --trusted-ca-file?): ${message}`);
  }
  return err;
}

/**
 * Checks, before a process starts its work, that the TLS files are good at `now` and that
 * etcd accepts the handshake both ways: throws EtcdTlsError naming the file otherwise. An
 * etcd that does not answer is not an error here (processes wait for it as they always
 * did). Returns the client certificate, for its expiry; undefined without TLS.
 */
export async function checkEtcdTlsAtStart(config: EtcdClientConfig, now: Date, timeoutMs = 5_000): Promise<ClientCertificate | undefined> {
  const files = tlsFilesOf(config);
  if (!files) return undefined;
  const cert = checkEtcdTls(files, now);
  const client = new Etcd3(etcdClientOptions(config, now, { dialTimeout: timeoutMs }));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([client.get('/').string(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  } catch (err) {
    const explained = explainEtcdError(err, config);
    if (explained instanceof EtcdTlsError) throw explained;
  } finally {
    clearTimeout(timer);
    client.close();
  }
  return cert;
}
