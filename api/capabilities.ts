import * as t from 'io-ts';

/** Linux's capabilities (capabilities(7), as of Linux 6.x), without the `CAP_` prefix. */
export const LINUX_CAPABILITIES: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
];

const KNOWN = new Set(LINUX_CAPABILITIES);

/** `NET_ADMIN` or `CAP_NET_ADMIN` -> `NET_ADMIN`: the form specs carry (Docker takes both). */
export function capabilityName(name: string): string {
  return name.startsWith('CAP_') ? name.slice(4) : name;
}

/** A capability name as Linux spells it (`NET_ADMIN`, `CAP_NET_ADMIN`), or `ALL` when `all` is allowed. */
function capability(all: boolean): t.Type<string, string, unknown> {
  const expected = all ? 'a Linux capability name (e.g. "CHOWN", "NET_ADMIN") or "ALL"' : 'a Linux capability name (e.g. "NET_ADMIN")';
  const is = (u: unknown): u is string => typeof u === 'string' && (KNOWN.has(capabilityName(u)) || (all && u === 'ALL'));
  return new t.Type<string, string, unknown>(expected, is, (u, c) => (is(u) ? t.success(u) : t.failure(u, c, expected)), t.identity);
}

/** The manifest's `capAdd`: capabilities added to Docker's default set. */
export const CapAdd = t.array(capability(false));
/** The manifest's `capDrop`: capabilities taken away; `ALL` takes every one. */
export const CapDrop = t.array(capability(true));

/** Capability names as specs carry them: without `CAP_`, once each, sorted (so their order does not change the hash). */
export function normalizeCapabilities(names: readonly string[]): string[] {
  return [...new Set(names.map(capabilityName))].sort();
}

/** A container's user: a name or uid, with an optional group name or gid (`"1000"`, `"1000:1000"`, `"nobody"`, `"app:app"`). */
const USER_PATTERN = /^([a-z_][a-z0-9_.-]*\$?|[0-9]+)(:([a-z_][a-z0-9_.-]*|[0-9]+))?$/i;
export const User = new t.Type<string, string, unknown>(
  'a user "uid[:gid]" or "name[:group]"',
  (u): u is string => typeof u === 'string' && u.length <= 64 && USER_PATTERN.test(u),
  (u, c) => (typeof u === 'string' && u.length <= 64 && USER_PATTERN.test(u) ? t.success(u) : t.failure(u, c, 'a user "uid[:gid]" or "name[:group]"')),
  t.identity,
);
