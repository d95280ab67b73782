import { isIPv4 } from 'node:net';
import dnsPacket from 'dns-packet';
import { DNS_DOMAIN } from '../../api/dns-names.js';
import { isDnsLabel } from '../../api/names.js';

/** One endpoint as DNS sees it: its own label, the host address and the published port. */
export interface DnsEndpoint {
  label: string;
  host: string;
  port: number;
}

/** What the DNS server knows: the endpoints of a service, and whether an app has any. */
export interface DnsDirectory {
  /** Called before a query about the app is answered (the directory may fetch it first). */
  prepare?(app: string): Promise<void>;
  endpoints(app: string, service: string): DnsEndpoint[];
  hasApp(app: string): boolean;
}

/** The app a query in dokkaa.local is about (`[<label>.][<service>.]<app>.dokkaa.local`), if any. Pure. */
export function appOfQuery(query: dnsPacket.DecodedPacket): string | undefined {
  const name = query.questions?.[0]?.name.toLowerCase().replace(/\.$/, '');
  if (!name?.endsWith(`.${DNS_DOMAIN}`)) return undefined;
  const app = name.slice(0, -DNS_DOMAIN.length - 1).split('.').pop();
  // A label is any bytes on the wire: only an app name (a DNS label) names an app's prefix.
  return app && isDnsLabel(app) ? app : undefined;
}

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Seconds clients may cache an answer: endpoints change as replicas come and go. */
export const DNS_TTL = 5;
/** Without EDNS, a UDP answer must fit in 512 bytes (RFC 1035); larger ones are truncated (TC). */
const UDP_LIMIT = 512;

const SOA: dnsPacket.Answer = {
  type: 'SOA',
  name: DNS_DOMAIN,
  ttl: DNS_TTL,
  data: { mname: `ns.${DNS_DOMAIN}`, rname: `hostmaster.${DNS_DOMAIN}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: DNS_TTL },
};

/**
 * The answer to a query for a name in dokkaa.local, or `undefined` for a name outside it
 * (the server forwards or refuses those). Pure.
 *   `<service>.<app>.dokkaa.local`          A: every endpoint host; SRV: one per endpoint
 *                                            (priority 10, weight 10, its port, target below,
 *                                            with the target's A record as additional)
 *   `<label>.<service>.<app>.dokkaa.local`  A and SRV of that one endpoint
 *   `dokkaa.local`, `<app>.dokkaa.local`    exist (SOA at the apex), no records otherwise
 * Anything else in the domain is NXDOMAIN; a known name without the asked type is NODATA.
 * `maxSize`: the transport's limit (512 for UDP without EDNS); a larger answer is cut and
 * flagged TC so the client retries over TCP.
 */
export function answerQuery(query: dnsPacket.DecodedPacket, dir: DnsDirectory, maxSize = UDP_LIMIT): Buffer | undefined {
  const q = query.questions?.[0];
  if (!q) return reply(query, RCODE.FORMERR, [], [], []);
  const name = q.name.toLowerCase().replace(/\.$/, '');
  if (name !== DNS_DOMAIN && !name.endsWith(`.${DNS_DOMAIN}`)) return undefined;
  const labels = name === DNS_DOMAIN ? [] : name.slice(0, -DNS_DOMAIN.length - 1).split('.');

  const nodata = () => reply(query, RCODE.NOERROR, [], [SOA], []);
  const nxdomain = () => reply(query, RCODE.NXDOMAIN, [], [SOA], []);
  if (labels.length === 0) return q.type === 'SOA' ? reply(query, RCODE.NOERROR, [SOA], [], []) : nodata();
  if (labels.length === 1) return dir.hasApp(labels[0]!) ? nodata() : nxdomain();
  if (labels.length > 3) return nxdomain();

  const [service, app] = labels.slice(-2) as [string, string];
  let endpoints = dir.endpoints(app, service);
  if (labels.length === 3) endpoints = endpoints.filter((e) => e.label === labels[0]);
  if (endpoints.length === 0) return nxdomain();

  const base = `${service}.${app}.${DNS_DOMAIN}`;
  const target = (e: DnsEndpoint) => `${e.label}.${base}`;
  const aRecords = (owner: string, eps: DnsEndpoint[]): dnsPacket.Answer[] =>
    [...new Set(eps.map((e) => e.host).filter((h) => isIPv4(h)))].map((host) => ({ type: 'A', name: owner, ttl: DNS_TTL, data: host }));
  const srvRecords = (owner: string): dnsPacket.Answer[] =>
    endpoints.map((e) => ({ type: 'SRV', name: owner, ttl: DNS_TTL, data: { priority: 10, weight: 10, port: e.port, target: target(e) } }));
  const srvAdditionals = () => endpoints.flatMap((e) => aRecords(target(e), [e]));

  // dns-packet decodes type 255 as 'ANY', which its typings do not list.
  switch (q.type as dnsPacket.RecordType | 'ANY') {
    case 'A':
      return fit(query, aRecords(q.name, endpoints), [], maxSize);
    case 'SRV':
      return fit(query, srvRecords(q.name), srvAdditionals(), maxSize);
    case 'ANY':
      return fit(query, [...aRecords(q.name, endpoints), ...srvRecords(q.name)], srvAdditionals(), maxSize);
    default:
      return nodata();
  }
}

/** A reply to `query` (its id, question and RD flag) with this rcode and these records. */
export function reply(
  query: dnsPacket.DecodedPacket,
  rcode: number,
  answers: dnsPacket.Answer[],
  authorities: dnsPacket.Answer[],
  additionals: dnsPacket.Answer[],
  truncated = false,
): Buffer {
  const flags =
    dnsPacket.AUTHORITATIVE_ANSWER |
    dnsPacket.RECURSION_AVAILABLE |
    (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
    (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    rcode;
  // A query with EDNS gets an OPT record back (RFC 6891): we support 4096-byte UDP answers.
  const opt: dnsPacket.Answer[] = ednsOf(query) ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [];
  return dnsPacket.encode({ type: 'response', id: query.id ?? 0, flags, questions: query.questions ?? [], answers, authorities, additionals: [...additionals, ...opt] });
}

function ednsOf(query: dnsPacket.DecodedPacket): dnsPacket.OptAnswer | undefined {
  return query.additionals?.find((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
}

/** The answer within `maxSize`: additionals go first, then answers, and the reply is flagged TC. */
function fit(query: dnsPacket.DecodedPacket, answers: dnsPacket.Answer[], additionals: dnsPacket.Answer[], maxSize: number): Buffer {
  const full = reply(query, RCODE.NOERROR, answers, [], additionals);
  if (full.length <= maxSize) return full;
  const noAdditionals = reply(query, RCODE.NOERROR, answers, [], []);
  if (noAdditionals.length <= maxSize) return noAdditionals;
  let n = answers.length;
  let cut = reply(query, RCODE.NOERROR, answers.slice(0, n), [], [], true);
  while (n > 0 && cut.length > maxSize) cut = reply(query, RCODE.NOERROR, answers.slice(0, --n), [], [], true);
  return cut;
}

/** The UDP size a query allows: 512, or its EDNS payload size (capped at 4096). */
export function udpLimit(query: dnsPacket.DecodedPacket): number {
  const opt = ednsOf(query);
  return opt ? Math.min(4096, Math.max(UDP_LIMIT, opt.udpPayloadSize)) : UDP_LIMIT;
}
