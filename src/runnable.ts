/** A long-running part of a process: a controller, a lease, an election. */
export interface Runnable {
  readonly name: string;
  /** Starts the part; resolves once it is running. May reject: the manager retries. */
  start(): Promise<void>;
  /** Stops taking new work, finishes work in flight, releases what it holds. */
  stop(): Promise<void>;
}
