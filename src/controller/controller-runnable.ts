import type { Runnable } from '../runnable.js';
import type { Controller } from './controller.js';

/**
 * A controller as an injectable class of its own, so that module files only bind: a
 * subclass describes its controller (a ControllerBuilder chain) in its constructor, from
 * what the container injects, and the manager starts and stops it like any Runnable.
 */
export abstract class ControllerRunnable implements Runnable {
  readonly name: string;

  protected constructor(private readonly controller: Controller) {
    this.name = controller.name;
  }

  start(): Promise<void> {
    return this.controller.start();
  }

  stop(): Promise<void> {
    return this.controller.stop();
  }

  /** Queues a key from outside the controller's sources (e.g. a health verdict). */
  enqueue(key: string): void {
    this.controller.enqueue(key);
  }
}
