import { inject, injectable, multiInject } from 'inversify';
import { backoffDelay, sleep, type Clock } from './clock.js';
import { TYPES } from './ioc/tokens.js';
import type { Runnable } from './runnable.js';
import { errorField, type Logger } from './logging.js';


/**
 * Starts every Runnable bound in the container, in binding order, each isolated: one that
 * fails to start is retried with backoff while the others run. Stops them in reverse order.
 */
@injectable()
export class Manager {
  private stopping = false;
  private readonly started: Runnable[] = [];
  private readonly pending = new Set<Promise<void>>();

  constructor(
    @multiInject(TYPES.Runnable) private readonly runnables: Runnable[],
    @inject(TYPES.Logger) private readonly log: Logger,
    @inject(TYPES.Clock) private readonly clock: Clock,
  ) {}

  /** Resolves once every part has had its first start attempt (failures retry in background). */
  async start(): Promise<void> {
    for (const r of this.runnables) {
      if (!(await this.tryStart(r, 0))) {
        const retrying = this.retryStart(r);
        this.pending.add(retrying);
        void retrying.finally(() => this.pending.delete(retrying));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.pending]);
    for (const r of [...this.started].reverse()) {
      try {
        await r.stop();
        this.log.info('stopped', { component: r.name });
      } catch (err) {
        this.log.error('stop failed', { component: r.name, error: errorField(err) });
      }
    }
    this.started.length = 0;
  }

  private async tryStart(r: Runnable, attempt: number): Promise<boolean> {
    try {
      await r.start();
      this.started.push(r);
      this.log.info('started', { component: r.name });
      return true;
    } catch (err) {
      this.log.error('start failed', { component: r.name, attempt, error: errorField(err) });
      return false;
    }
  }

  private async retryStart(r: Runnable): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      await sleep(this.clock, backoffDelay(attempt, 500, 30_000));
      if (this.stopping || (await this.tryStart(r, attempt))) return;
    }
  }
}
