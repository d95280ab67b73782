import { inject, injectable } from 'inversify';
import { replicaId, type Keys } from '../../api/keys.js';
import type { Config } from '../../src/config.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { VolumeKeeperReconciler } from './volume-keeper-reconciler.js';

/** The volume keeper: this node's volume sets in, Docker volumes removed as asked. */
@injectable()
export class VolumeKeeperController extends ControllerRunnable {
  constructor(
    @inject(ControllerFactory) factory: ControllerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'node'>,
    @inject(VolumeKeeperReconciler) reconciler: VolumeKeeperReconciler,
  ) {
    const sets = factory.informer(Resources.nodeVolumeSets(keys, config.node));
    super(factory.builder('volume-keeper', reconciler).for(sets, (c) => [replicaId(c.value.at.app, c.value.at.name, c.value.at.replica)]).build());
  }
}
