import { EtcdPermissionDeniedError } from 'etcd3';

/**
 * Whether etcd refused an operation for lack of permission: etcd3's typed error, or the
 * plain error it gives for a watch etcd cancelled at creation ("permission denied").
 * A denial does not go away by retrying: only an administrator's grant ends it.
 */
export function isPermissionDenied(err: unknown): boolean {
  if (err instanceof EtcdPermissionDeniedError) return true;
  return err instanceof Error && /etcdserver: permission denied/.test(err.message);
}
