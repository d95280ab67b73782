import { request } from 'node:http';

/** One request on a new connection; resolves to its status, 0 for a connection that failed, -1 for a response cut off. */
export function once(address: string, host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: address, port: 80, path: '/', headers: { host }, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      // A response cut off midway (the backend or a proxy reset it) ends without 'end': a failure, -1.
      res.on('close', () => { if (!res.complete) resolve(-1); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** `workers` clients sending requests back to back until `stop()`: how many, and which failed. */
export function steadyLoad(address: string, host: string, workers = 6): { stop: () => Promise<{ sent: number; failed: number[] }> } {
  let running = true;
  let sent = 0;
  const failed: number[] = [];
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const status = await once(address, host);
      sent++;
      if (status !== 200) failed.push(status);
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { sent, failed };
    },
  };
}

