import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import type { ResourceSpec } from '../../src/informer/informer-factory.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { LayoutMigratorReconciler } from './layout-migrator-reconciler.js';

/** Any key of an old-layout section, as its key (the reconciler reads the value fresh). */
function oldSection(prefix: string): ResourceSpec<string> {
  return { kind: 'old-layout', prefix, decode: (kv) => ({ ok: true, value: kv.key }) };
}

/**
 * The layout migrator: every key under the old host-written sections (`replicas/`,
 * `services/`, `events/`, `prepulled/`), now and whenever an agent not yet upgraded writes
 * one, is moved to the per-node layout. Cluster-wide, run by the leader.
 */
@injectable()
export class LayoutMigratorController extends ControllerRunnable {
  constructor(
    @inject(ControllerFactory) factory: ControllerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(LayoutMigratorReconciler) reconciler: LayoutMigratorReconciler,
  ) {
    const [first, ...rest] = keys.legacy.sections.map((p) => factory.informer(oldSection(p)));
    let builder = factory.builder('layout-migrator', reconciler).for(first!, (c) => [c.value]);
    for (const informer of rest) builder = builder.for(informer, (c) => [c.value]);
    super(builder.build());
  }
}
