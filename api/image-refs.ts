/** Docker Hub's names for itself; credentials for any of them are stored under `docker.io`. */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
export const DOCKER_HUB_HOST = 'docker.io';

/**
 * The registry an image reference pulls from, as Docker decides it: the first path
 * component when it looks like a host (has a `.` or a `:`, or is `localhost`), else
 * Docker Hub. `reg.example.com:5000/web:2` -> `reg.example.com:5000`; `dokkaa/web` -> `docker.io`.
 */
export function registryHostOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return DOCKER_HUB_HOST;
  const first = image.slice(0, slash);
  const isHost = first.includes('.') || first.includes(':') || first === 'localhost';
  return isHost ? normalizeRegistryHost(first) : DOCKER_HUB_HOST;
}

/** A registry host as keys store it: lower case, Docker Hub's aliases as `docker.io`. */
export function normalizeRegistryHost(host: string): string {
  const h = host.toLowerCase().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return DOCKER_HUB.has(h) ? DOCKER_HUB_HOST : h;
}

/** Whether `host` can name a registry: `name[:port]` with DNS labels or an IPv4 address. */
export function isRegistryHost(host: string): boolean {
  return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/.test(host);
}

/** The `serveraddress` Docker expects in credentials for a registry (Hub's is its v1 index URL). */
export function serverAddressOf(host: string): string {
  return host === DOCKER_HUB_HOST ? 'https://index.docker.io/v1/' : host;
}
