import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PullError } from '../../src/docker/pull-errors.js';
import { challengeParams, MANIFEST_ACCEPT, RegistryDigestResolver, repositoryPath, type HttpGet } from '../../src/registry/digest-resolver.js';
import { freePort } from './local-http.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const MANIFEST = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
const BASIC = `Basic ${Buffer.from('ci:secret').toString('base64')}`;

/** A registry on 127.0.0.1: `team/web:2` exists; auth as `mode` says; every request logged. */
async function registry(mode: 'open' | 'basic' | 'token' | 'no-digest-header'): Promise<{ host: string; seen: { url: string; auth?: string; accept?: string }[]; server: Server }> {
  const seen: { url: string; auth?: string; accept?: string }[] = [];
  let host = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push({ url: req.url!, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(req.headers.accept ? { accept: req.headers.accept } : {}) });
    if (req.url!.startsWith('/token')) {
      const url = new URL(req.url!, 'http://x');
      if (req.headers.authorization !== BASIC) return void res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      assert.equal(url.searchParams.get('scope'), 'repository:team/web:pull');
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'T0K' }));
    }
    const allowed = mode === 'basic' ? req.headers.authorization === BASIC : mode === 'token' ? req.headers.authorization === 'Bearer T0K' : true;
    if (!allowed) {
      const challenge = mode === 'basic' ? 'Basic realm="registry"' : `Bearer realm="http://${host}/token",service="reg",scope="repository:team/web:pull"`;
      return void res.writeHead(401, { 'www-authenticate': challenge }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    if (req.url === '/v2/team/web/manifests/2') {
      return void res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', ...(mode === 'no-digest-header' ? {} : { 'docker-content-digest': DIGEST }) }).end(MANIFEST);
    }
    res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  servers.push(server);
  return { host, seen, server };
}
const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

const creds = async () => ({ username: 'ci', password: 'secret', serveraddress: 'x' });
const none = async () => undefined;

async function rejection(p: Promise<unknown>): Promise<PullError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof PullError, `a PullError, got ${String(err)}`);
  return err;
}

describe('RegistryDigestResolver (a registry on 127.0.0.1, over plain HTTP)', () => {
  it('reads Docker-Content-Digest from an open registry, asking for Docker v2 and OCI manifests and lists', async () => {
    const r = await registry('open');
    assert.equal(await new RegistryDigestResolver({ credentials: none }).resolve(`${r.host}/team/web:2`), DIGEST);
    assert.deepEqual(r.seen, [{ url: '/v2/team/web/manifests/2', accept: MANIFEST_ACCEPT }]);
    for (const type of ['manifest.v2+json', 'manifest.list.v2+json', 'oci.image.manifest.v1+json', 'oci.image.index.v1+json']) assert.ok(MANIFEST_ACCEPT.includes(type), type);
  });

  it('hashes the manifest itself when the registry sends no digest header', async () => {
    const r = await registry('no-digest-header');
    assert.equal(await new RegistryDigestResolver({ credentials: none }).resolve(`${r.host}/team/web:2`), `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`);
  });

  it('answers a Basic challenge with the stored credentials', async () => {
    const r = await registry('basic');
    assert.equal(await new RegistryDigestResolver({ credentials: creds }).resolve(`${r.host}/team/web:2`), DIGEST);
    assert.deepEqual(r.seen.map((s) => s.auth), [undefined, BASIC]);
  });

  it('follows the token flow: a token from the realm, fetched with the credentials, then Bearer', async () => {
    const r = await registry('token');
    assert.equal(await new RegistryDigestResolver({ credentials: creds }).resolve(`${r.host}/team/web:2`), DIGEST);
    assert.deepEqual(r.seen.map((s) => `${s.url.split('?')[0]} ${s.auth ?? '-'}`), ['/v2/team/web/manifests/2 -', `/token ${BASIC}`, '/v2/team/web/manifests/2 Bearer T0K']);
  });

  it('tells authentication apart: no credentials stored, or the wrong ones (Basic and token)', async () => {
    const basic = await registry('basic');
    const noCreds = await rejection(new RegistryDigestResolver({ credentials: none }).resolve(`${basic.host}/team/web:2`));
    assert.equal(noCreds.kind, 'auth');
    assert.match(noCreds.reason, /none are stored/);
    const wrong = async () => ({ username: 'ci', password: 'nope', serveraddress: 'x' });
    assert.equal((await rejection(new RegistryDigestResolver({ credentials: wrong }).resolve(`${basic.host}/team/web:2`))).kind, 'auth');
    const token = await registry('token');
    const refused = await rejection(new RegistryDigestResolver({ credentials: wrong }).resolve(`${token.host}/team/web:2`));
    assert.equal(refused.kind, 'auth');
    assert.match(refused.reason, /HTTP 401: UNAUTHORIZED: bad credentials/);
  });

  it('says not found for a missing tag, unreachable for a port nobody listens on', async () => {
    const r = await registry('open');
    const missing = await rejection(new RegistryDigestResolver({ credentials: none }).resolve(`${r.host}/team/web:3`));
    assert.equal(missing.kind, 'notFound');
    assert.match(missing.reason, /MANIFEST_UNKNOWN/);
    const port = await freePort();
    const down = await rejection(new RegistryDigestResolver({ credentials: none }).resolve(`127.0.0.1:${port}/team/web:2`));
    assert.equal(down.kind, 'unreachable');
    assert.match(down.reason, /ECONNREFUSED/);
  });

  it('fails as authentication when stored credentials cannot be opened', async () => {
    const r = await registry('open');
    const err = await rejection(new RegistryDigestResolver({ credentials: () => Promise.reject(new Error('no --cluster-key-file')) }).resolve(`${r.host}/team/web:2`));
    assert.equal(err.kind, 'auth');
  });
});

describe('RegistryDigestResolver URLs', () => {
  const urls = async (image: string, insecure: string[] = []) => {
    const got: string[] = [];
    const get: HttpGet = async (url) => (got.push(url), { status: 200, header: (n) => (n === 'docker-content-digest' ? DIGEST : undefined), body: async () => Buffer.from('') });
    await new RegistryDigestResolver({ credentials: none, insecure, get }).resolve(image);
    return got;
  };
  it('uses HTTPS but for loopback, localhost and the insecure list; Docker Hub at its API host', async () => {
    assert.deepEqual(await urls('reg.example.com:5000/team/web:2'), ['https://reg.example.com:5000/v2/team/web/manifests/2']);
    assert.deepEqual(await urls('10.0.0.1:5000/web:2', ['10.0.0.1:5000']), ['http://10.0.0.1:5000/v2/web/manifests/2']);
    assert.deepEqual(await urls('localhost:5000/web:2'), ['http://localhost:5000/v2/web/manifests/2']);
    assert.deepEqual(await urls('docker.io/nginx:1.27'), ['https://registry-1.docker.io/v2/library/nginx/manifests/1.27']);
  });

  it('takes the repository path and challenge parameters apart', () => {
    assert.equal(repositoryPath('reg:5000/a/b/c:1'), 'a/b/c');
    assert.equal(repositoryPath('nginx:1'), 'library/nginx');
    assert.equal(repositoryPath('dokkaa/web:1'), 'dokkaa/web');
    assert.deepEqual(challengeParams('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull"'), {
      realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:x:pull',
    });
  });
});
