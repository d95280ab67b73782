import type Docker from 'dockerode';

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
  return { exitCode: info.ExitCode ?? -1, output: demux(Buffer.concat(chunks)), ms };
}

/** Docker's 8-byte-header frames (stdout/stderr multiplexed without a TTY). */
function demux(buf: Buffer): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out).toString();
}
