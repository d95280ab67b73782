import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { pullViolations, violationText } from '../../api/admission.js';
import { matchesConstraints } from '../../api/constraints.js';
import { parseManifestId, type Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import { decodeRecord, MaintenanceRecord, NodeRecord, PrepulledRecord, type PrepullRecord } from '../../api/records.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { ReconcileResult, Reconciler } from '../../src/controller/controller.js';
import type { ContainerEngine, PullProgress } from '../../src/docker/container-engine.js';
import { PullCoordinator } from '../../src/docker/pull-coordinator.js';
import { classifyPullError, CredentialsPending } from '../../src/docker/pull-errors.js';
import { formatPullProgress } from '../../src/docker/pull-stream.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, type Prepull } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import { ClusterPolicy } from '../../src/policy/cluster-policy.js';

/** How soon a request waiting for its registry's credentials looks again, if no event comes first. */
const CREDENTIALS_RETRY_MS = 5_000;

/**
 * Carries out `dokkaa pull` on this host: for the request `prepull/<app>/<name>`, when the
 * manifest may run here (its constraints match this node, which is not cordoned), pulls the
 * requested image through the host's PullCoordinator (joining a pull in progress) and
 * answers in `node-prepulled/<node>/<app>/<name>` (on the node's lease): pulling with progress,
 * present, or failed with the reason; events Pulling, Pulled, Failed. An image the cluster
 * policy's registries do not allow is not pulled (failed, naming the rule). A request answered
 * (present or failed) is not carried out again; writing it anew (a new requestedAt) is.
 */
@injectable()
export class PrepullReconciler implements Reconciler {
  private readonly requests: SharedInformer<Prepull>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.ContainerEngine) private readonly engine: ContainerEngine,
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(PullCoordinator) private readonly pulls: PullCoordinator,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(InformerFactory) factory: InformerFactory,
    @inject(ClusterPolicy) private readonly policy: ClusterPolicy,
  ) {
    this.requests = factory.informer(Resources.prepulls(keys));
  }

  async reconcile(id: string, log: Logger): Promise<ReconcileResult> {
    const { app, name } = parseManifestId(id);
    const node = this.lease.node;
    const request = this.requests.get(this.keys.prepull(app, name))?.value;
    if (!request) return;
    const answerKey = this.keys.prepulledAnswer(node, app, name);
    const [answerKv, manifestKv, nodeKv, maintenanceKv] = await Promise.all([
      this.store.get(answerKey),
      this.store.get(this.keys.manifest(app, name)),
      this.store.get(this.keys.node(node)),
      this.store.get(this.keys.nodeMaintenance(node)),
    ]);
    const answer = decodeRecord(PrepulledRecord, answerKv?.value);
    if (answer && answer.requestedAt === request.requestedAt && answer.state !== 'pulling') return;
    const decoded = manifestKv ? decodeManifest(manifestKv.value, app, name) : undefined;
    const self = decodeRecord(NodeRecord, nodeKv?.value);
    if (!self) throw new Error('this node has no record yet; retrying');
    if (!decoded?.ok || !matchesConstraints(self, decoded.spec.constraints) || decodeRecord(MaintenanceRecord, maintenanceKv?.value)?.cordoned) {
      log.debug('prepull not for this node', { image: request.image });
      return;
    }
    // A placement's image passed admission; a request's image has not: the registries rule.
    const refused = pullViolations(request.image, this.policy.current(log));
    if (refused.length) {
      const message = `forbidden by the cluster policy: ${refused.map(violationText).join('; ')}`;
      log.warn('prepull forbidden by the cluster policy', { image: request.image, rules: refused.map((v) => v.rule) });
      void this.events.record(app, name, { type: 'Warning', reason: 'Forbidden', message: `not pulling ${request.image}: ${message}`, node });
      await this.answer(app, name, { image: request.image, requestedAt: request.requestedAt, state: 'failed', message });
      return;
    }
    return this.pull(app, name, request, log);
  }

  /** This host's answer to the request, on its lease. */
  private answer(app: string, name: string, record: PrepulledRecord): Promise<void> {
    return this.store.put(this.keys.prepulledAnswer(this.lease.node, app, name), canonicalJson(record), { lease: this.lease.id() });
  }

  private async pull(app: string, name: string, request: PrepullRecord, log: Logger): Promise<ReconcileResult> {
    const { image, requestedAt } = request;
    const write = (r: PrepulledRecord) => this.answer(app, name, r);
    const event = (type: 'Normal' | 'Warning', reason: string, message: string) => void this.events.record(app, name, { type, reason, message, node: this.lease.node });
    if (await this.engine.hasImage(image)) {
      await write({ image, requestedAt, state: 'present', message: 'already present' });
      return;
    }
    // Still `pulling`, so the request is carried out once the copy arrives (which enqueues it).
    const waiting = async (err: CredentialsPending): Promise<ReconcileResult> => {
      await write({ image, requestedAt, state: 'pulling', message: err.message });
      return { requeueAfterMs: CREDENTIALS_RETRY_MS };
    };
    try {
      await this.pulls.ready(image);
    } catch (err) {
      if (err instanceof CredentialsPending) return waiting(err);
      throw err;
    }
    log.info('pre-pulling image', { image });
    event('Normal', 'Pulling', `pulling image ${image} (dokkaa pull)`);
    let writes = Promise.resolve();
    const show = (p: PullProgress) => {
      const pull = { percent: p.total ? Math.floor((100 * p.current) / p.total) : 0, bytes: p.current, total: p.total };
      writes = writes.then(() => write({ image, requestedAt, state: 'pulling', message: `pulling ${formatPullProgress(p)}`, pull })).catch((err: unknown) => void log.warn('pull progress not written', { error: errorField(err) }));
    };
    show({ current: 0, total: 0 });
    try {
      const pulled = await this.pulls.pull(image, show);
      await writes;
      const message = `pulled image ${image} (${(pulled.bytes / 1e6).toFixed(1)} MB in ${(pulled.durationMs / 1000).toFixed(1)} s)`;
      log.info('image pre-pulled', { image, bytes: pulled.bytes, durationMs: pulled.durationMs });
      event('Normal', 'Pulled', message);
      await write({ image, requestedAt, state: 'present', message });
    } catch (err) {
      await writes;
      if (err instanceof CredentialsPending) return waiting(err);
      const failure = classifyPullError(image, err);
      event('Warning', 'Failed', failure.message);
      await write({ image, requestedAt, state: 'failed', message: failure.message });
    }
  }
}
