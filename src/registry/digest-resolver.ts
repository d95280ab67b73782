import { createHash } from 'node:crypto';
import { imageRepository, imageTag } from '../../api/image-pins.js';
import { DOCKER_HUB_HOST, registryHostOf } from '../../api/image-refs.js';
import type { RegistryAuth } from '../docker/container-engine.js';
import { PullError } from '../docker/pull-errors.js';

/**
 * Resolves an image reference's tag to the digest it names now, at its registry. Rejects
 * with a PullError: `auth` (credentials refused or missing), `notFound` (no such
 * repository or tag), `unreachable` (no answer, refused, timeout, TLS), `other`. One
 * attempt, no retries: the caller decides when to ask again.
 */
export interface DigestResolver {
  resolve(image: string): Promise<string>;
}

/** What the resolver needs of an HTTP response. */
export interface HttpResponse {
  status: number;
  header(name: string): string | undefined;
  body(): Promise<Buffer>;
}

/** An HTTP GET; rejects only when no response came (refused, timeout, TLS...). */
export type HttpGet = (url: string, headers: Record<string, string>) => Promise<HttpResponse>;

/** Manifest types a pin may name: Docker v2 and OCI, single images and multi-platform lists. */
export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ');

const TIMEOUT_MS = 10_000;

/** HttpGet on Node's fetch, with a timeout. */
export const fetchGet: HttpGet = async (url, headers) => {
  const res = await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(TIMEOUT_MS) });
  return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body: async () => Buffer.from(await res.arrayBuffer()) };
};

export interface RegistryDigestResolverOptions {
  /** The stored credentials for an image's registry, if any (rejects when they cannot be opened). */
  credentials: (image: string) => Promise<RegistryAuth | undefined>;
  /** Registries reached over plain HTTP besides 127.0.0.0/8 and localhost (as engines treat them). */
  insecure?: readonly string[];
  get?: HttpGet;
}

/**
 * A DigestResolver on the registry's distribution API: GET /v2/<repo>/manifests/<tag> with
 * the manifest types accepted, the digest from Docker-Content-Digest (else the sha256 of
 * the body, which is what the header holds). A 401 is answered as its WWW-Authenticate
 * asks: Basic with the stored credentials, or Bearer with a token from the realm (fetched
 * with the credentials if any, anonymously if none).
 */
export class RegistryDigestResolver implements DigestResolver {
  private readonly get: HttpGet;

  constructor(private readonly options: RegistryDigestResolverOptions) {
    this.get = options.get ?? fetchGet;
  }

  async resolve(image: string): Promise<string> {
    const host = registryHostOf(image);
    const repo = repositoryPath(image);
    const url = `${this.scheme(host)}://${apiHost(host)}/v2/${repo}/manifests/${encodeURIComponent(imageTag(image))}`;
    const credentials = await this.options.credentials(image).catch((err: unknown) => {
      throw new PullError(image, 'auth', (err as Error).message);
    });
    const headers: Record<string, string> = { Accept: MANIFEST_ACCEPT };
    let res = await this.request(image, url, headers);
    if (res.status === 401) {
      const challenge = res.header('www-authenticate') ?? '';
      const authorization = await this.authorize(image, challenge, repo, credentials);
      res = await this.request(image, url, { ...headers, Authorization: authorization });
    }
    if (res.status === 200) {
      const digest = res.header('docker-content-digest');
      if (digest && /^sha256:[0-9a-f]{64}$/.test(digest)) return digest;
      return `sha256:${createHash('sha256').update(await res.body()).digest('hex')}`;
    }
    throw statusError(image, res.status, await errorText(res));
  }

  private scheme(host: string): 'http' | 'https' {
    const name = host.replace(/:\d+$/, '');
    const loopback = name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name);
    return loopback || this.options.insecure?.includes(host) ? 'http' : 'https';
  }

  private async request(image: string, url: string, headers: Record<string, string>): Promise<HttpResponse> {
    try {
      return await this.get(url, headers);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      throw new PullError(image, 'unreachable', [e.cause?.code, e.cause?.message ?? e.message].filter(Boolean).join(' '));
    }
  }

  /** The Authorization header a 401's challenge asks for. */
  private async authorize(image: string, challenge: string, repo: string, credentials: RegistryAuth | undefined): Promise<string> {
    const basic = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
    const scheme = challenge.split(' ')[0]?.toLowerCase();
    if (scheme === 'basic') {
      if (!basic) throw new PullError(image, 'auth', 'the registry asks for credentials and none are stored (dokkaa registry login)');
      return basic;
    }
    if (scheme !== 'bearer') throw new PullError(image, 'auth', `unsupported authentication challenge ${JSON.stringify(challenge)}`);
    const params = challengeParams(challenge);
    if (!params.realm) throw new PullError(image, 'auth', `bearer challenge without a realm: ${challenge}`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', params.scope ?? `repository:${repo}:pull`);
    const res = await this.request(image, tokenUrl.toString(), basic ? { Authorization: basic } : {});
    if (res.status !== 200) throw statusError(image, res.status === 404 ? 401 : res.status, await errorText(res));
    const body = JSON.parse((await res.body()).toString()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new PullError(image, 'auth', 'the token service answered without a token');
    return `Bearer ${token}`;
  }
}

/** The repository's path at its registry: no host part; Docker Hub's official images under `library/`. */
export function repositoryPath(image: string): string {
  const repo = imageRepository(image);
  const host = registryHostOf(image);
  const slash = repo.indexOf('/');
  const first = slash < 0 ? '' : repo.slice(0, slash);
  const explicitHost = first.includes('.') || first.includes(':') || first === 'localhost';
  const path = explicitHost ? repo.slice(slash + 1) : repo;
  return host === DOCKER_HUB_HOST && !path.includes('/') ? `library/${path}` : path;
}

/** Where a registry's API answers: Docker Hub's is not at docker.io. */
function apiHost(host: string): string {
  return host === DOCKER_HUB_HOST ? 'registry-1.docker.io' : host;
}

/** `Bearer realm="https://auth",service="reg",scope="repository:x:pull"` -> its parameters. */
export function challengeParams(challenge: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of challenge.matchAll(/([a-zA-Z]+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return params;
}

function statusError(image: string, status: number, text: string): PullError {
  const reason = `HTTP ${status}${text ? `: ${text}` : ''}`;
  if (status === 401 || status === 403) return new PullError(image, 'auth', reason);
  if (status === 404) return new PullError(image, 'notFound', reason);
  return new PullError(image, 'other', reason);
}

/** The registry's error message (`{"errors":[{"code","message"}]}`), short. */
async function errorText(res: HttpResponse): Promise<string> {
  try {
    const body = (await res.body()).toString();
    const parsed = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    return first ? [first.code, first.message].filter(Boolean).join(': ') : body.slice(0, 200);
  } catch {
    return '';
  }
}
