import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { randomBytes, X509Certificate } from 'node:crypto';
import { isDnsLabel } from '../../api/names.js';
import { cnOf, ETCD_SERVER_NAME } from '../etcd/etcd-tls.js';

/**
 * The cluster's certificates for TLS to etcd, made with Debian's `openssl` (3.x) as a child
 * process: a CA, etcd's server certificate, and client certificates whose CN is the etcd
 * user they act as (`controller`, `admin`, `node-<NODE>`). Keys are ECDSA P-256.
 *
 * Files in the directory (mode 0700): NAME.crt (0644) and NAME.key (0600). A key is
 * generated to stdout and written by us with mode 0600, never by openssl with the umask's.
 */

export const DEFAULT_PKI_DIR = '/etc/dokkaa/pki';
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_DAYS = 365;

/** What a certificate is for, as `pki list` shows it. */
export type PkiRole = 'ca' | 'etcd-server' | 'controller' | 'admin' | 'node';

/** A usage error of a pki command: printed as is. */
export class PkiError extends Error {}

/** The CN (and etcd user) of a node's agent certificate, and the base of its file names. */
export function nodeCertName(node: string): string {
  if (!isDnsName(node)) throw new PkiError(`NODE: expected a node name (a host name: a-z, 0-9, "-" and dots), got ${JSON.stringify(node)}`);
  return `node-${node.toLowerCase()}`;
}

/** DNS labels joined by dots, one label or more, any case (a host name, a node name). */
function isDnsName(s: string): boolean {
  return s.length <= 253 && s.toLowerCase().split('.').every((l) => isDnsLabel(l));
}

/** The certificate and key files of `name` (`ca`, `etcd-server`, `controller`, `admin`, `node-<NODE>`) in `dir`. */
export function pkiFiles(dir: string, name: string): { cert: string; key: string } {
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** The role a file name stands for; undefined for any other name. */
export function roleOf(name: string): PkiRole | undefined {
  if (name === 'ca' || name === 'etcd-server' || name === 'controller' || name === 'admin') return name;
  return name.startsWith('node-') && name.length > 5 ? 'node' : undefined;
}

export interface IssueOptions {
  /** Validity in days (default 365). */
  days?: number;
  /** etcd-server only: its extra IP addresses and DNS names (127.0.0.1, localhost and `etcd` always). */
  sans?: readonly string[];
}

export interface InitOptions extends IssueOptions {
  dir: string;
  /** The CA's validity in days (default 3650). */
  caDays?: number;
}

/** The CA and the certificates every cluster has; `made` and `kept` name files by base name. */
export interface InitResult {
  made: string[];
  kept: string[];
}

const LEAVES = ['etcd-server', 'controller', 'admin'] as const;

/**
 * Makes what is missing of the CA, etcd-server, controller and admin in `dir`; keeps what
 * is there (so a second run changes nothing, and a new etcd-server can be made by removing
 * its files, or with issue). Leaves are signed by the CA on disk.
 */
export function pkiInit(opts: InitOptions): InitResult {
  ensureDir(opts.dir);
  const result: InitResult = { made: [], kept: [] };
  const ca = pkiFiles(opts.dir, 'ca');
  if (existsSync(ca.cert) || existsSync(ca.key)) {
    if (!existsSync(ca.cert) || !existsSync(ca.key)) throw new PkiError(`${opts.dir}: has only one of ca.crt and ca.key; restore the other or remove both to make a new CA (every certificate must then be issued again)`);
    result.kept.push('ca');
  } else {
    // A CN of its own, so that an error about the wrong CA can tell two clusters' CAs apart.
    const config = reqConfig(`dokkaa-ca-${randomBytes(4).toString('hex')}`, ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash']);
    makePair(ca, ['-days', String(days(opts.caDays ?? DEFAULT_CA_DAYS, '--ca-days'))], config);
    result.made.push('ca');
  }
  for (const name of LEAVES) {
    const files = pkiFiles(opts.dir, name);
    if (existsSync(files.cert) && existsSync(files.key)) {
      result.kept.push(name);
      continue;
    }
    pkiIssue(opts.dir, name, { ...(opts.days !== undefined ? { days: opts.days } : {}), ...(name === 'etcd-server' ? { sans: opts.sans ?? [] } : {}) });
    result.made.push(name);
  }
  return result;
}

/**
 * Issues (or renews, with a new key) the certificate `name` signed by the CA in `dir`:
 * `etcd-server`, `controller`, `admin` or `node-<NODE>`. An etcd-server renewed without
 * `sans` keeps the names of the one it replaces. Returns its certificate file.
 */
export function pkiIssue(dir: string, name: string, opts: IssueOptions = {}): string {
  const role = roleOf(name);
  if (!role || role === 'ca') throw new PkiError(`expected etcd-server, controller, admin or node-NODE, got ${JSON.stringify(name)}`);
  if (role !== 'etcd-server' && opts.sans?.length) throw new PkiError(`--etcd-san is for etcd-server only, not ${name}`);
  const ca = pkiFiles(dir, 'ca');
  if (!existsSync(ca.cert) || !existsSync(ca.key)) throw new PkiError(`${dir}: no CA (ca.crt and ca.key); run dokkaa pki init --dir ${dir} first`);
  const files = pkiFiles(dir, name);
  const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'authorityKeyIdentifier=keyid', 'subjectKeyIdentifier=hash'];
  if (role === 'etcd-server') ext.push('extendedKeyUsage=serverAuth', `subjectAltName=${serverNames(opts.sans ?? previousNames(files.cert)).join(',')}`);
  else ext.push('extendedKeyUsage=clientAuth');
  const cn = role === 'etcd-server' ? ETCD_SERVER_NAME : name;
  makePair(files, ['-CA', ca.cert, '-CAkey', ca.key, '-days', String(days(opts.days ?? DEFAULT_DAYS, '--days'))], reqConfig(cn, ext));
  return files.cert;
}

/** One certificate as `pki list` shows it. */
export interface PkiListRow {
  file: string;
  cn: string;
  role: PkiRole;
  notAfter: string;
  daysLeft: number;
  expired: boolean;
}

/** The certificates in `dir` (ca first, then by name), with their expiry at `now`. */
export function pkiList(dir: string, now: Date): PkiListRow[] {
  if (!existsSync(dir)) throw new PkiError(`${dir}: no such directory (dokkaa pki init --dir ${dir} makes it)`);
  const names = readdirSync(dir).filter((f) => f.endsWith('.crt')).map((f) => f.slice(0, -4)).filter((n) => roleOf(n) !== undefined);
  names.sort((a, b) => (a === 'ca' ? -1 : b === 'ca' ? 1 : a.localeCompare(b)));
  return names.map((name) => {
    const file = pkiFiles(dir, name).cert;
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(readFileSync(file));
    } catch {
      throw new PkiError(`${file}: not a PEM certificate`);
    }
    const notAfter = new Date(x509.validTo);
    return {
      file,
      cn: cnOf(x509.subject).replace(/^CN=/, ''),
      role: roleOf(name)!,
      notAfter: notAfter.toISOString(),
      daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000),
      expired: notAfter.getTime() <= now.getTime(),
    };
  });
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

function days(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 1) throw new PkiError(`${flag}: expected a whole number of days >= 1, got ${n}`);
  return n;
}

/** etcd-server's subjectAltName entries: the given ones, plus the names every client may use. */
function serverNames(sans: readonly string[]): string[] {
  const entries = new Set([`DNS:${ETCD_SERVER_NAME}`, 'DNS:localhost', 'IP:127.0.0.1']);
  for (const san of sans) {
    if (isIP(san)) entries.add(`IP:${san}`);
    else if (isDnsName(san)) entries.add(`DNS:${san.toLowerCase()}`);
    else throw new PkiError(`--etcd-san: expected an IP address or a DNS name, got ${JSON.stringify(san)}`);
  }
  return [...entries];
}

/** The IP addresses and DNS names of the certificate at `file`, if it exists. */
function previousNames(file: string): string[] {
  if (!existsSync(file)) return [];
  const san = new X509Certificate(readFileSync(file)).subjectAltName ?? '';
  return san.split(/,\s*/).flatMap((e) => (e.startsWith('DNS:') ? [e.slice(4)] : e.startsWith('IP Address:') ? [e.slice(11)] : []));
}

/** An openssl req config: no prompts, the subject `CN=cn`, the extensions given. */
function reqConfig(cn: string, extensions: string[]): string {
  return ['[req]', 'distinguished_name=dn', 'x509_extensions=ext', 'prompt=no', '[dn]', `CN=${cn}`, '[ext]', ...extensions, ''].join('\n');
}

/**
 * A new key (0600) and its certificate (0644) at `files`, made beside them as NAME.tmp and
 * renamed over what was there, key first. `req` signs with `-CA` if given, else itself.
 */
function makePair(files: { cert: string; key: string }, reqArgs: string[], config: string): void {
  const keyTmp = `${files.key}.tmp`;
  const certTmp = `${files.cert}.tmp`;
  // A file, not stdin: Node's stdin pipe is a socket, which openssl cannot open as /dev/stdin.
  const configTmp = `${files.cert}.cnf.tmp`;
  try {
    rmSync(keyTmp, { force: true });
    writeFileSync(keyTmp, openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']), { mode: 0o600, flag: 'wx' });
    writeFileSync(configTmp, config);
    const cert = openssl(['req', '-x509', '-new', '-key', keyTmp, '-config', configTmp, ...reqArgs]);
    rmSync(certTmp, { force: true });
    writeFileSync(certTmp, cert, { mode: 0o644, flag: 'wx' });
    chmodSync(certTmp, 0o644); // the umask may have taken bits off
    renameSync(keyTmp, files.key);
    renameSync(certTmp, files.cert);
  } finally {
    for (const tmp of [keyTmp, certTmp, configTmp]) rmSync(tmp, { force: true });
  }
}

/** Runs openssl; returns its stdout. Throws PkiError with its stderr. */
function openssl(args: string[]): string {
  try {
    return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new PkiError('openssl: not found (apt-get install openssl)');
    throw new PkiError(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}
