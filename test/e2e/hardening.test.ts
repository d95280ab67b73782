import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useDokkaa } from './support/dokkaa.js';
import { dockerExec } from './support/exec.js';
import { sleeperManifest, waitFor } from './support/world.js';

/** The main process prints its own security state, then sleeps. */
const reporter = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: ['sh', '-c', 'grep -E "^(NoNewPrivs|Seccomp|CapEff):" /proc/self/status; exec sleep 3600'],
  ...extra,
});

describe('safer containers on real Docker', () => {
  const { world } = useDokkaa();

  const runningContainer = async (app: string) =>
    waitFor(`${app} Running`, async () => ((await world.status(app, 'job'))?.phase === 'Running' ? (await world.running(app, 'job'))[0] : undefined));
  const sh = async (id: string, script: string) => dockerExec(world.docker, id, ['sh', '-c', script]);
  /** What the reporter's main process printed about itself. */
  const statusLines = async (id: string) =>
    waitFor('the status lines in the log', async () => {
      const log = await world.logs(id);
      return log.includes('CapEff') ? log : undefined;
    });

  it('runs every container with no-new-privileges and Docker\'s default seccomp profile', async () => {
    const app = `sec-${world.id}`;
    await world.putManifest(app, 'job', reporter());
    const c = await runningContainer(app);
    const info = await world.docker.getContainer(c.Id).inspect();
    assert.deepEqual(info.HostConfig.SecurityOpt, ['no-new-privileges:true'], 'no seccomp option: the default profile, never unconfined');
    const status = await statusLines(c.Id);
    assert.match(status, /^NoNewPrivs:\s+1$/m, status);
    assert.match(status, /^Seccomp:\s+2$/m, `2 is filter mode (a seccomp profile applies): ${status}`);
    // Docker's default set still holds CHOWN: root in the container may chown.
    const chown = await sh(c.Id, 'touch /tmp/f && chown 1:1 /tmp/f && echo chowned');
    assert.equal(chown.exitCode, 0, chown.output);
  });

  it('runs the command as the manifest\'s user, on a read-only root filesystem', async () => {
    const app = `user-${world.id}`;
    await world.putManifest(app, 'job', sleeperManifest({ user: '1000:1001', readOnlyRootfs: true }));
    const c = await runningContainer(app);
    const info = await world.docker.getContainer(c.Id).inspect();
    assert.equal(info.Config.User, '1000:1001');
    assert.equal(info.HostConfig.ReadonlyRootfs, true);
    const id = await sh(c.Id, 'echo "$(id -u):$(id -g)"; ps -o user,args | grep "[s]leep 3600"');
    assert.match(id.output, /^1000:1001$/m, id.output);
    assert.match(id.output, /^1000\s+sleep 3600/m, `the main process runs as 1000: ${id.output}`);
    const write = await dockerExec(world.docker, c.Id, ['sh', '-c', 'echo x > /written'], 20_000);
    assert.notEqual(write.exitCode, 0);
    assert.match(write.output, /Read-only file system/, write.output);
    const asRoot = await world.docker.getContainer(c.Id).exec({ Cmd: ['sh', '-c', 'echo x > /etc/written'], User: '0', AttachStdout: true, AttachStderr: true });
    const stream = await asRoot.start({ hijack: true, stdin: false });
    await new Promise((resolve) => stream.on('end', resolve).resume());
    assert.notEqual((await asRoot.inspect()).ExitCode, 0, 'not even root writes to a read-only root filesystem');
  });

  it('takes away every capability with capDrop ALL, and gives back only those of capAdd', async () => {
    const app = `caps-${world.id}`;
    await world.putManifest(app, 'job', reporter({ capDrop: ['ALL'] }));
    const none = await runningContainer(app);
    const refused = await sh(none.Id, 'touch /tmp/f && chown 1:1 /tmp/f');
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.output, /Operation not permitted/, refused.output);
    const noneLog = await statusLines(none.Id);
    assert.match(noneLog, /^CapEff:\s+0{16}$/m, noneLog);

    await world.putManifest(app, 'job', reporter({ capDrop: ['ALL'], capAdd: ['CHOWN'] }));
    const chownOnly = await waitFor('a new container with CHOWN', async () => {
      const [c] = await world.running(app, 'job');
      return c && c.Id !== none.Id && (await world.status(app, 'job'))?.phase === 'Running' ? c : undefined;
    });
    const info = await world.docker.getContainer(chownOnly.Id).inspect();
    assert.deepEqual({ add: info.HostConfig.CapAdd, drop: info.HostConfig.CapDrop }, { add: ['CHOWN'], drop: ['ALL'] });
    const allowed = await sh(chownOnly.Id, 'touch /tmp/f && chown 1:1 /tmp/f');
    assert.equal(allowed.exitCode, 0, allowed.output);
    const log = await statusLines(chownOnly.Id);
    assert.match(log, /^CapEff:\s+0{15}1$/m, `CAP_CHOWN (bit 0) only: ${log}`);
  });
});
