import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import { constants } from 'node:os';

/** The native module (native/splice_pump.c), as it exports. */
export interface NativePump {
  createPump(pipeSize: number, onDone: (id: number, errno: number, bytesAtoB: number, bytesBtoA: number) => void): object;
  add(pump: object, id: number, fdA: number, fdB: number): void;
  cancel(pump: object, id: number): boolean;
  close(pump: object): void;
  /** 0, or the errno of setsockopt(TCP_CONGESTION). */
  setCongestion(fd: number, name: string): number;
  getCongestion(fd: number): string;
}

/** How a pair ended: cleanly (both sides sent FIN), or with the errno code that broke it. */
export interface PairEnd {
  error?: string;
  bytesAtoB: number;
  bytesBtoA: number;
}

/** Where node-gyp puts the module, from dist/controllers/ambassador/ (the code runs from dist). */
const MODULE_PATH = '../../../controllers/ambassador/native/build/Release/splice_pump.node';

/**
 * Bytes a pair's pipe holds each way: the most one splice moves, and all the pump buffers
 * for a direction (besides the sockets' own buffers). 1 MiB, Linux's default pipe-max-size:
 * measured against 64 and 256 KiB, it costs the pump the least CPU per byte.
 */
export const DEFAULT_PIPE_SIZE = 1024 * 1024;

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** `ECONNRESET` for its number. */
export const errnoName = (errno: number): string => errnoNames.get(errno) ?? `errno ${errno}`;

/** Loads the native module, or says why it cannot. */
export function loadSplicePump(): NativePump | Error {
  try {
    return createRequire(import.meta.url)(new URL(MODULE_PATH, import.meta.url).pathname) as NativePump;
  } catch (err) {
    return new Error(`splice pump not loaded (npm run build:native builds it): ${(err as Error).message}`);
  }
}

/** The file descriptor under a connected net.Socket or a listening net.Server (Node's TCP handle keeps it). */
export function fdOf(s: Socket | Server): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  return fd;
}

/**
 * Moves the bytes of connected socket pairs inside the kernel (splice(2) through a pipe each
 * way), on a thread of its own: the ambassador's data path when the native module is built.
 * A pair handed over must be connected and paused (nothing read by Node, nothing queued to
 * write): from then on only the pump reads and writes it, and passes on half-closes; Node
 * keeps the sockets open until the pump reports the pair ended, then closes them.
 */
export class SplicePump {
  private readonly handle: object;
  private readonly pairs = new Map<number, (end: PairEnd) => void>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly native: NativePump,
    pipeSize = DEFAULT_PIPE_SIZE,
  ) {
    this.handle = native.createPump(pipeSize, (id, errno, bytesAtoB, bytesBtoA) => {
      const done = this.pairs.get(id);
      if (!done) return;
      this.pairs.delete(id);
      done({ error: errno ? errnoName(errno) : undefined, bytesAtoB, bytesBtoA });
    });
  }

  /** Pairs the pump moves now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Hands `a` and `b` to the pump; `done` is called once, when both directions ended or one failed. Returns the pair's id. */
  add(a: Socket, b: Socket, done: (end: PairEnd) => void): number {
    if (this.closed) throw new Error('splice pump is closed');
    const id = this.nextId++;
    this.native.add(this.handle, id, fdOf(a), fdOf(b));
    this.pairs.set(id, done);
    return id;
  }

  /**
   * Takes a pair back before it ended: once this returns, the pump no longer touches its
   * sockets (they may be closed) and `done` is not called. False if it had already ended.
   */
  cancel(id: number): boolean {
    if (this.closed || !this.pairs.delete(id)) return false;
    return this.native.cancel(this.handle, id);
  }

  /** Stops the pump's thread; pairs still open are let go without a report. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pairs.clear();
    this.native.close(this.handle);
  }
}
