import { inject, injectable } from 'inversify';
import type { HealthSpec } from '../../api/lifecycle.js';
import type { Clock, TimerHandle } from '../../src/clock.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { probeOnce } from './probe.js';

export interface HealthState {
  /** starting: no verdict yet; healthy: last check passed; unhealthy: `retries` failures in a row. */
  status: 'starting' | 'healthy' | 'unhealthy';
  failures: number;
  lastError?: string;
}

/** The verdict after one more check result. Pure. Failures within the start period don't count. */
export function nextHealth(prev: HealthState, error: string | undefined, health: HealthSpec, inStartPeriod: boolean): HealthState {
  if (!error) return { status: 'healthy', failures: 0 };
  if (inStartPeriod && prev.status === 'starting') return { ...prev, lastError: error };
  // A healthy container stays ready until `retries` checks in a row fail (as a readiness
  // probe's failureThreshold); then it is unhealthy: unregistered, and restarted.
  const failures = prev.failures + 1;
  return { status: failures >= health.retries ? 'unhealthy' : prev.status, failures, lastError: error };
}

interface Probe {
  health: HealthSpec;
  ip: string;
  startedAt: number;
  state: HealthState;
  timer?: TimerHandle;
  key: string;
}

/**
 * Runs TCP/HTTP health checks for this host's containers, one loop per container, and
 * calls `onChange(key)` when a verdict changes so the node runner reconciles that replica
 * (which then registers, deregisters or restarts it). Checks run in the agent, not in
 * the container, so images need no probe tools.
 */
@injectable()
export class HealthProber {
  private readonly probes = new Map<string, Probe>();
  private onChange: (key: string) => void = () => undefined;

  constructor(@inject(TYPES.Clock) private readonly clock: Clock) {}

  setListener(fn: (key: string) => void): void {
    this.onChange = fn;
  }

  /** Starts probing the container (idempotent) and returns its current verdict. */
  observe(key: string, containerId: string, health: HealthSpec, ip: string): HealthState {
    let p = this.probes.get(containerId);
    if (!p || p.ip !== ip) {
      if (p?.timer !== undefined) this.clock.clearTimeout(p.timer);
      p = { health, ip, key, startedAt: this.clock.now(), state: { status: 'starting', failures: 0 } };
      this.probes.set(containerId, p);
      this.schedule(containerId, p, 0);
    }
    return p.state;
  }

  /** Stops probing a container that is gone or replaced. */
  forget(containerId: string): void {
    const p = this.probes.get(containerId);
    if (p?.timer !== undefined) this.clock.clearTimeout(p.timer);
    this.probes.delete(containerId);
  }

  /** Forgets every container not in `keep` (after a listing). */
  retain(keep: Set<string>): void {
    for (const id of [...this.probes.keys()]) if (!keep.has(id)) this.forget(id);
  }

  stopAll(): void {
    for (const id of [...this.probes.keys()]) this.forget(id);
  }

  private schedule(containerId: string, p: Probe, delayMs: number): void {
    p.timer = this.clock.setTimeout(() => void this.run(containerId, p), delayMs);
  }

  private async run(containerId: string, p: Probe): Promise<void> {
    if (this.probes.get(containerId) !== p) return;
    const error = await probeOnce(p.health, p.ip);
    if (this.probes.get(containerId) !== p) return;
    const before = p.state.status;
    p.state = nextHealth(p.state, error, p.health, this.clock.now() - p.startedAt < p.health.startPeriodMs);
    if (p.state.status !== before) this.onChange(p.key);
    this.schedule(containerId, p, p.health.intervalMs);
  }
}
