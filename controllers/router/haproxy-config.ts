import { nameCovers } from '../../api/certificates.js';
import { isIP } from 'node:net';
import { isHostName } from '../../api/names.js';
import type { Route } from '../../api/routes.js';

/** Where a ready replica of a routed service serves (an endpoint record's host and port). */
export interface Upstream {
  host: string;
  port: number;
}

/** A route with the endpoints of its service that are ready now (only ready replicas are registered). */
export type RoutedService = Pick<Route, 'host' | 'app' | 'name' | 'service' | 'httpsRedirect' | 'proxyProtocol'> & { endpoints: readonly Upstream[] };

/** A certificate haproxy serves: the host it is for (a name or `*.name`) and its PEM file (chain + key). */
export interface ServedCert {
  host: string;
  file: string;
}

export interface HaproxyConfigInput {
  routes: readonly RoutedService[];
  certs: readonly ServedCert[];
  /** The crt-list file (see crtList) and the runtime API socket. */
  crtListFile: string;
  statsSocket: string;
  address: string;
  /** 0: no HTTP listener. */
  httpPort: number;
  /** 0: no HTTPS listener; there is none either without a certificate. */
  httpsPort: number;
}

/** Old workers finish their connections after a reload for at most this long (then haproxy cuts them). */
export const HARD_STOP_AFTER = '5m';

/** Whether the config listens at all (haproxy refuses to start without a listener). */
export function listens(input: Pick<HaproxyConfigInput, 'certs' | 'httpPort' | 'httpsPort'>): boolean {
  return input.httpPort > 0 || servesHttps(input);
}

function servesHttps(input: Pick<HaproxyConfigInput, 'certs' | 'httpsPort'>): boolean {
  return input.httpsPort > 0 && input.certs.length > 0;
}

/**
 * The crt-list: one line per certificate, served when the client's SNI matches its host
 * (the filter keeps a certificate to the name it was stored under, whatever else it lists).
 * The first line is also what a client without a matching SNI gets.
 */
export function crtList(certs: readonly ServedCert[]): string {
  return [...certs]
    .sort((a, b) => a.host.localeCompare(b.host))
    .map((c) => `${c.file} ${c.host}\n`)
    .join('');
}

/**
 * haproxy.cfg (HAProxy 2.6) for one host's router. Pure: the same input gives the same text,
 * so the caller acts only when it changed. Servers are named after their addresses, and the
 * 503 of a backend without one holds whatever its servers are, so a change of endpoints
 * alone touches the server lines only (haproxy-servers.ts). One frontend routes by the Host header (port
 * stripped, lower case): exact names first, then `*.` wildcards (one label); an unknown host
 * gets a 404, a routed service without a ready endpoint a 503 saying so. The endpoint set is
 * the ready set, so no health checks: a connection refused, reset or unanswered before a
 * response is retried on another endpoint. Throws on a host name or address that could not
 * be written safely (they are validated upstream; this keeps a bad one out of the file).
 */
export function haproxyConfig(input: HaproxyConfigInput): string {
  for (const r of input.routes) if (!isHostName(r.host)) throw new Error(`not a host name: ${JSON.stringify(r.host)}`);
  for (const c of input.certs) if (!isHostName(c.host) || /\s/.test(c.file)) throw new Error(`bad certificate entry: ${JSON.stringify(c)}`);
  for (const a of [input.address, ...input.routes.flatMap((r) => r.endpoints.map((e) => e.host))]) if (!isIP(a)) throw new Error(`not an IP address: ${JSON.stringify(a)}`);
  const https = servesHttps(input);
  const lines = [...globalSection(input.statsSocket), ...defaultsSection()];
  if (listens(input)) lines.push(...frontend(input, https));
  lines.push(...unknownHostBackend(), ...input.routes.length ? backends(input.routes) : []);
  return lines.join('\n') + '\n';
}

function globalSection(statsSocket: string): string[] {
  return [
    'global',
    '  master-worker',
    // The runtime API; expose-fd lets a reloaded worker take the listening sockets over, so no
    // connection is refused during a reload.
    `  stats socket ${statsSocket} mode 600 level admin expose-fd listeners`,
    // Bounded: a long-lived connection (WebSocket, upload) keeps an old worker at most this long.
    `  hard-stop-after ${HARD_STOP_AFTER}`,
    '  ssl-default-bind-options ssl-min-ver TLSv1.2',
    '',
  ];
}

function defaultsSection(): string[] {
  return [
    'defaults',
    '  mode http',
    '  option forwardfor',
    '  option dontlognull',
    '  balance roundrobin',
    // Retry before any response came back, each time on another endpoint (redispatch on every
    // retry, not only the last): a replica that just stopped costs no request.
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response response-timeout',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 10s',
    // An upgraded connection (WebSocket) or a long stream idles up to this long.
    '  timeout tunnel 1h',
    '',
  ];
}

function bindAddress(address: string, port: number): string {
  return address.includes(':') ? `ipv6@${address}:${port}` : `${address}:${port}`;
}

/** The names as one haproxy ACL pattern list (exact names) and regexes (wildcards). */
function hostMatch(hosts: readonly string[]): string[] {
  const exact = hosts.filter((h) => !h.startsWith('*.'));
  const wild = hosts.filter((h) => h.startsWith('*.'));
  return [
    ...(exact.length ? [`{ var(txn.host) -m str ${exact.join(' ')} }`] : []),
    ...wild.map((h) => `{ var(txn.host) -m reg ${wildcardRegex(h)} }`),
  ];
}

function wildcardRegex(host: string): string {
  return `^[^.]+\\.${host.slice(2).replace(/\./g, '\\.')}$`;
}

function frontend(input: HaproxyConfigInput, https: boolean): string[] {
  const lines = ['frontend web'];
  if (input.httpPort > 0) lines.push(`  bind ${bindAddress(input.address, input.httpPort)}`);
  if (https) lines.push(`  bind ${bindAddress(input.address, input.httpsPort)} ssl crt-list ${input.crtListFile} alpn h2,http/1.1`);
  lines.push(
    // The client's own X-Forwarded-For is not trusted: the router is the edge.
    '  http-request del-header X-Forwarded-For',
    '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
    '  http-request set-header X-Forwarded-Host %[req.hdr(host)]',
    '  http-request set-header X-Forwarded-Proto https if { ssl_fc }',
    '  http-request set-header X-Forwarded-Proto http if !{ ssl_fc }',
  );
  if (https) {
    const redirect = input.routes.filter((r) => r.httpsRedirect && input.certs.some((c) => nameCovers(c.host, r.host))).map((r) => r.host);
    for (const m of hostMatch(redirect)) lines.push(`  http-request redirect scheme https code 308 if !{ ssl_fc } ${m}`);
  }
  // Exact names before wildcards, so an exact name wins over a wildcard that also matches.
  const ordered = [...groupByBackend(input.routes)].flatMap(([backend, rs]) => hostMatch(rs.map((r) => r.host)).map((m) => ({ backend, m })));
  ordered.sort((a, b) => Number(a.m.includes('-m reg')) - Number(b.m.includes('-m reg')));
  for (const { backend, m } of ordered) lines.push(`  use_backend ${backend} if ${m}`);
  lines.push('  default_backend unknown-host', '');
  return lines;
}

function backendName(r: Pick<Route, 'app' | 'name' | 'service'>): string {
  return `web:${r.app}:${r.name}:${r.service}`;
}

/** Routes by backend (one per service), in a stable order. */
function groupByBackend(routes: readonly RoutedService[]): Map<string, RoutedService[]> {
  const by = new Map<string, RoutedService[]>();
  for (const r of [...routes].sort((a, b) => a.host.localeCompare(b.host))) {
    const name = backendName(r);
    by.set(name, [...(by.get(name) ?? []), r]);
  }
  return new Map([...by].sort(([a], [b]) => a.localeCompare(b)));
}

function unknownHostBackend(): string[] {
  return ['backend unknown-host', '  http-request return status 404 content-type text/plain string "no route for this host\\n"', ''];
}

function backends(routes: readonly RoutedService[]): string[] {
  const lines: string[] = [];
  for (const [name, rs] of groupByBackend(routes)) {
    const r = rs[0]!;
    lines.push(`backend ${name}`);
    // Whatever the servers are at the time (they change at runtime, see haproxy-servers.ts).
    lines.push(`  http-request return status 503 content-type text/plain string "no ready endpoint for service ${r.service} of ${r.app}/${r.name}\\n" if { nbsrv() eq 0 }`);
    for (const e of uniqueSorted(rs.flatMap((x) => x.endpoints))) {
      lines.push(`  server ${serverName(e)} ${bindAddress(e.host, e.port)}${r.proxyProtocol ? ' send-proxy-v2' : ''}`);
    }
    lines.push('');
  }
  return lines;
}

/** Named after its address, so the same endpoint keeps its name from one config to the next. */
function serverName(e: Upstream): string {
  return `e-${e.host}-${e.port}`;
}

function uniqueSorted(endpoints: readonly Upstream[]): Upstream[] {
  const seen = new Map(endpoints.map((e) => [`${e.host}:${e.port}`, e]));
  return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([, e]) => e);
}
