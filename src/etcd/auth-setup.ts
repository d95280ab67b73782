import { EtcdRoleNotFoundError, EtcdUserNotFoundError, type Etcd3, type IPermission } from 'etcd3';
import type { AuthPlan, Permission, PermissionType, RoleSpec } from '../../api/etcd-roles.js';
import type { Logger } from '../logging.js';

/** The part of etcd3's auth client that setting up roles uses. */
export type AuthClient = Pick<Etcd3['auth'], 'roleAdd' | 'roleGet' | 'roleGrantPermission' | 'roleRevokePermission' | 'userAdd' | 'userGet' | 'userGrantRole' | 'authEnable'>;

export interface ApplyAuthOptions {
  /** Turn etcd's authentication on once the users and roles are there. */
  enable: boolean;
  /**
   * Passwords for some users, for an etcd without client certificates (tests): a user
   * without one is created with `no_password`, so only a certificate with its CN logs in.
   */
  passwords?: Readonly<Record<string, string>>;
}

const PERM_TYPES: Record<PermissionType, IPermission['permType']> = { read: 'Read', write: 'Write', readwrite: 'Readwrite' };

/** A permission as etcd lists it, for comparing: type, key, range end (empty for one key). */
function permId(type: IPermission['permType'] | PermissionType, key: string, rangeEnd: string): string {
  const t = typeof type === 'string' && type in PERM_TYPES ? PERM_TYPES[type as PermissionType] : type;
  return JSON.stringify([t, key, rangeEnd]);
}

const bytes = (s: string) => Buffer.from(s, 'latin1');

/**
 * Makes etcd's roles and users match the plan (api/etcd-roles.ts), idempotently: missing
 * roles and users are added, each role's permissions become exactly the planned ones
 * (extra ones revoked), each user gets its roles. Users and roles not in the plan are left
 * alone (e.g. a node not named this time). Then, if asked, auth is enabled.
 */
export async function applyAuth(auth: AuthClient, plan: AuthPlan, options: ApplyAuthOptions, log: Logger): Promise<void> {
  for (const role of plan.roles) await applyRole(auth, role, log);
  for (const user of plan.users) {
    try {
      await auth.userGet({ name: user.name });
    } catch (err) {
      if (!(err instanceof EtcdUserNotFoundError)) throw err;
      const password = options.passwords?.[user.name];
      await auth.userAdd(password ? { name: user.name, password } : { name: user.name, password: '', options: { no_password: true } });
      log.info('etcd user added', { user: user.name });
    }
    for (const role of user.roles) await auth.userGrantRole({ user: user.name, role });
  }
  // etcd 3.4 has no AuthStatus; enabling an enabled auth is a no-op there.
  if (options.enable) {
    await auth.authEnable();
    log.info('etcd authentication enabled');
  }
}

async function applyRole(auth: AuthClient, role: RoleSpec, log: Logger): Promise<void> {
  let current: IPermission[] = [];
  try {
    current = (await auth.roleGet({ role: role.name })).perm ?? [];
  } catch (err) {
    if (!(err instanceof EtcdRoleNotFoundError)) throw err;
    await auth.roleAdd({ name: role.name });
    log.info('etcd role added', { role: role.name });
  }
  const want = new Map(role.permissions.map((p: Permission) => [permId(p.type, p.key, p.rangeEnd ?? ''), p]));
  const have = new Set<string>();
  for (const p of current) {
    const key = p.key.toString('latin1');
    const rangeEnd = p.range_end?.toString('latin1') ?? '';
    const id = permId(p.permType, key, rangeEnd);
    have.add(id);
    if (!want.has(id)) {
      await auth.roleRevokePermission({ role: role.name, key: p.key, range_end: p.range_end });
      log.info('etcd permission revoked', { role: role.name, key, rangeEnd });
    }
  }
  for (const [id, p] of want) {
    if (have.has(id)) continue;
    await auth.roleGrantPermission({ name: role.name, perm: { permType: PERM_TYPES[p.type], key: bytes(p.key), range_end: bytes(p.rangeEnd ?? '') } });
  }
}
