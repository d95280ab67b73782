import type Docker from 'dockerode';
import { demuxFrames } from '../../../src/docker/log-frames.js';

export interface ExecResult {
  exitCode: number;
  output: string;
  ms: number;
}

/** Runs a command in a running container (`docker exec`), with stdout and stderr together. */
export async function dockerExec(docker: Docker, containerId: string, cmd: string[], timeoutMs = 20_000): Promise<ExecResult> {
  const t0 = Date.now();
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`exec ${cmd.join(' ')} took over ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  const ms = Date.now() - t0;
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, output: demuxFrames(Buffer.concat(chunks)).toString(), ms };
}
