/**
 * Whether a certificate name covers `host` (a name, or `*.name` for the router's wildcard
 * routes). RFC 6125 6.4.3: a `*` only as the whole left-most label, matching exactly one
 * label, and not over a single-label base (`*.com`). A wildcard host is covered only by the
 * same wildcard name.
 */
export function nameCovers(certName: string, host: string): boolean {
  const name = certName.toLowerCase();
  const target = host.toLowerCase();
  if (name === target) return true;
  if (!name.startsWith('*.') || target.startsWith('*.')) return false;
  const base = name.slice(2);
  if (!base.includes('.')) return false;
  const dot = target.indexOf('.');
  return dot > 0 && target.slice(dot + 1) === base;
}
