import { ContainerModule } from 'inversify';
import { TYPES } from '../ioc/tokens.js';
import { LeaderElection } from './leader-election.js';

/** Runs the cluster-wide controllers (bound as LeaderRunnable) only while elected. */
export const leaderModule = new ContainerModule(({ bind }) => {
  bind(LeaderElection).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(LeaderElection);
});
