import type { CreateSpec, ImageCommand } from '../../src/docker/container-engine.js';

/**
 * Env secrets (`"env": {"DB_PASSWORD": {"secret": "db-password"}}`) without their values in
 * the container's config: Docker keeps a container's Env in config.v2.json on the host's
 * disk (and shows it in `docker inspect`), which the secrets' promise (only ever in memory on
 * the host) forbids. So the values go to a file on the replica's tmpfs, bound read-only into
 * the container, and the container starts through a static shell from the host (Debian's
 * busybox-static, bound read-only too) that exports the file's values and then executes
 * the image's own command. What `docker exec` runs (a `cmd` health check, a debugging shell)
 * does not see them: it gets the config's Env only.
 */

/** Debian's busybox-static on the host (scripts/lib/setup-host.sh installs it). */
export const HOST_STATIC_SHELL = '/bin/busybox';
/** Where the shell and the values are bound in the container. */
export const SHELL_TARGET = '/run/dokkaa/busybox';
export const SECRET_ENV_TARGET = '/run/dokkaa/secret-env';
/** The file's name in the replica's tmpfs directory. */
export const SECRET_ENV_FILE = 'secret-env';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Exports the values, then runs "$@" as Docker would: a name with a slash as it is, another
 * looked up in PATH by hand, because busybox's shell would run its own applet of that name
 * (`sleep`, `httpd`) instead of the image's program.
 */
const LAUNCH = [
  `set -a; . ${SECRET_ENV_TARGET}; set +a`,
  'case "$1" in */*) exec "$@";; esac',
  `IFS=:; for d in \${PATH:-${DEFAULT_PATH}}; do if [ -f "$d/$1" ] && [ -x "$d/$1" ]; then p="$d/$1"; shift; unset IFS; exec "$p" "$@"; fi; done`,
  'echo "dokkaa: $1: not found in PATH" >&2; exit 127',
].join('\n');

/** The file's content: one `NAME='value'` line per variable, quoted for the shell. */
export function secretEnvFile(values: Record<string, string>): Buffer {
  const lines = Object.keys(values)
    .sort()
    .map((k) => `${k}='${values[k]!.replaceAll("'", `'\\''`)}'\n`);
  return Buffer.from(lines.join(''), 'utf8');
}

/**
 * The container made to start through the shell: the entrypoint is the shell with LAUNCH, the
 * command what Docker would have run (the image's entrypoint, then the spec's command or else
 * the image's). Fails if that is nothing: Docker would refuse the container as well.
 */
export function launchThroughShell(spec: CreateSpec, image: ImageCommand): CreateSpec {
  const argv = [...image.entrypoint, ...(spec.cmd ?? image.cmd)];
  if (argv.length === 0) throw new Error(`image ${spec.image} has no command and the manifest gives none`);
  return { ...spec, entrypoint: [SHELL_TARGET, 'sh', '-c', LAUNCH, 'dokkaa-secret-env'], cmd: argv };
}
