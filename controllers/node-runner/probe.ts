import { connect } from 'node:net';
import { request } from 'node:http';
import type { HealthSpec } from '../../api/lifecycle.js';

/**
 * One TCP or HTTP check against a container's address, from the agent's network
 * namespace (as the kubelet probes pods). Resolves with an error text, or undefined if
 * the check passed. Never rejects.
 */
export function probeOnce(health: HealthSpec, ip: string): Promise<string | undefined> {
  return health.kind === 'http' ? probeHttp(ip, health.port!, health.path ?? '/', health.timeoutMs) : probeTcp(ip, health.port!, health.timeoutMs);
}

function probeTcp(ip: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    const done = (err?: string) => {
      socket.destroy();
      resolve(err);
    };
    socket.setTimeout(timeoutMs, () => done(`tcp ${ip}:${port}: timed out after ${timeoutMs} ms`));
    socket.once('connect', () => done());
    socket.once('error', (e) => done(`tcp ${ip}:${port}: ${e.message}`));
  });
}

function probeHttp(ip: string, port: number, path: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: ip, port, path, method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? undefined : `http ${ip}:${port}${path}: status ${code}`);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e) => resolve(`http ${ip}:${port}${path}: ${e.message}`));
    req.end();
  });
}
