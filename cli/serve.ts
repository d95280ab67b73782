import { Manager } from '../src/manager.js';
import { buildContainer } from './process-container.js';
import type { ContainerModule } from 'inversify';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logging.js';
import { checkEtcdTlsAtStart, RENEW_WITHIN_DAYS } from '../src/etcd/etcd-tls.js';

/**
 * Runs a process's controllers until SIGINT/SIGTERM, then stops taking work, finishes what
 * is in flight and releases leases. Containers are left running. A second signal exits now.
 */
export async function serve(config: Config, log: Logger, modules: readonly ContainerModule[], onStopped?: () => Promise<void>): Promise<void> {
  const cert = await checkEtcdTlsAtStart(config, new Date());
  if (cert && cert.daysLeft < RENEW_WITHIN_DAYS) {
    log.warn('etcd client certificate expires soon; renew it (docs/security.md)', { file: config.etcdCert, subject: cert.subject, notAfter: cert.notAfter.toISOString(), daysLeft: cert.daysLeft });
  }
  const container = buildContainer(config, log, modules);
  const manager = container.get(Manager);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn('second signal; exiting now', { signal });
      process.exit(130);
    }
    stopping = true;
    log.info('stopping', { signal });
    await manager.stop();
    await container.unbindAllAsync().catch(() => undefined);
    await onStopped?.();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await manager.start();
  log.info('running', { node: config.node, etcd: config.etcd, prefix: config.prefix, etcdTls: config.etcdCert ? { cert: config.etcdCert, subject: cert?.subject } : false });
  await new Promise(() => undefined);
}
