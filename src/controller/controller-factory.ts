import { inject, injectable } from 'inversify';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { TYPES } from '../ioc/tokens.js';
import { etcdUserOf } from '../etcd/etcd-tls.js';
import type { Logger } from '../logging.js';
import { InformerFactory, type ResourceSpec } from '../informer/informer-factory.js';
import type { SharedInformer } from '../informer/shared-informer.js';
import { ControllerBuilder } from './controller-builder.js';
import { Controller, type ControllerSpec, type Reconciler } from './controller.js';

/** Builds controllers with the process's clock, logger, resync period and shared informers. */
@injectable()
export class ControllerFactory {
  constructor(
    @inject(InformerFactory) private readonly informers: InformerFactory,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly log: Logger,
    @inject(TYPES.Config) private readonly config: Pick<Config, 'resyncSeconds' | 'etcdCert'>,
  ) {}

  /** Who etcd sees: named in the log of a refusal (read once, when first needed). */
  private etcdUser: string | undefined;

  /** The process's informer of a prefix (one per prefix, whoever asks). */
  informer<T>(spec: ResourceSpec<T>): SharedInformer<T> {
    return this.informers.informer(spec);
  }

  /** A controller described with `for(...)`, `watches(...)`; resyncs every `--resync` seconds. */
  builder(name: string, reconciler: Reconciler): ControllerBuilder {
    return new ControllerBuilder(name, reconciler, this.config.resyncSeconds * 1000, (spec) => this.controller(spec));
  }

  controller(spec: ControllerSpec): Controller {
    this.etcdUser ??= etcdUserOf(this.config);
    return new Controller({ etcdUser: this.etcdUser, ...spec }, this.clock, this.log);
  }
}
