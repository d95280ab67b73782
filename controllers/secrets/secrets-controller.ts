import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { secretsUsed } from '../../api/manifest.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { allocationOnly } from '../../src/controller/nodes-and-placements.js';
import { BY_FILE, BY_MANIFEST, BY_NODE, entryId, fileId, Resources } from '../../src/informer/resources.js';
import type { InformerEvent } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { SecretsReconciler } from './secrets-reconciler.js';

/**
 * The secrets controller: placements, nodes, `secrets/`, `registries/` and `prepull/` in,
 * `sealed/<node>/...` and `sealed-registries/<node>/...` out. One key per node. Cluster-wide (the elected leader runs it).
 */
@injectable()
export class SecretsController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(SecretsReconciler) reconciler: SecretsReconciler) {
    const nodes = factory.informer(Resources.nodes(keys));
    const manifests = factory.informer(Resources.manifests(keys));
    const byNode = Resources.placements(keys);
    const placements = factory.informer({ ...byNode, indexers: { ...byNode.indexers, [BY_NODE]: (c) => [c.value.at.node] } });
    const sealed = factory.informer(Resources.sealed(keys));
    const at = <A>(ev: InformerEvent<{ at: A }>): A => (ev.type === 'put' ? ev.obj : ev.old).value.at;
    // The nodes running a replica of a manifest that uses the secret.
    const holdersOf = (ev: InformerEvent<{ at: { app: string; name: string } }>) => {
      const { app, name } = at(ev);
      const users = manifests.byIndex(BY_FILE, fileId('secret', app, name)).map(entryId);
      return [...new Set(users.flatMap((id) => placements.byIndex(BY_MANIFEST, id).map((p) => p.value.at.node)))];
    };
    const sealedRegistries = factory.informer(Resources.sealedRegistries(keys));
    const registries = factory.informer(Resources.registries(keys));
    // A placement bears on its node's copies only if its manifest uses secrets (or is not
    // valid: the placement may run an older spec that does), if any registry has credentials,
    // or if the node holds copies that may be going. Anything else would be a reconcile of
    // six reads that changes nothing, for every replica placed.
    const placementMatters = (p: { app: string; name: string; node: string }) => {
      const manifest = manifests.get(keys.manifest(p.app, p.name))?.value.result;
      return !manifest?.ok || secretsUsed(manifest.spec).length > 0 || registries.list().length > 0
        || sealed.byIndex(BY_NODE, p.node).length > 0 || sealedRegistries.list().some((c) => c.value.at.node === p.node);
    };
    // A login or logout is rare and placements' summaries carry no image: every node, and
    // any that holds a copy (its record may be gone).
    const allNodes = () => [...new Set([...nodes.list().map((c) => c.value.at), ...sealedRegistries.list().map((c) => c.value.at.node)])];
    super(
      factory
        .builder('secrets', reconciler)
        // An agent rewrites its record with every count of what its placements reserve: not read here.
        .for(nodes, (c) => [c.value.at], (ev) => !allocationOnly(ev))
        .watches(placements, (ev) => (placementMatters(at(ev)) ? [at(ev).node] : []))
        .watches(sealed, (ev) => [at(ev).node])
        .watches(sealedRegistries, (ev) => [at(ev).node])
        .watches(factory.informer(Resources.secrets(keys)), holdersOf)
        .watches(registries, allNodes)
        // A pre-pull may be for any node (the reconciler checks constraints and cordons); a
        // cordon changes which pre-pulls its node carries out.
        .watches(factory.informer(Resources.prepulls(keys)), allNodes)
        .watches(factory.informer(Resources.maintenance(keys)), (ev) => [(ev.type === 'put' ? ev.obj : ev.old).value.at])
        // A manifest that starts or stops using a secret changes its placements' specs, which
        // arrive as placement events; a dead node's copies are found at resync.
        .uses(manifests)
        .resyncsAlso(() => [...new Set([...sealed.list(), ...sealedRegistries.list()].map((c) => c.value.at.node))])
        .build(),
    );
  }
}
