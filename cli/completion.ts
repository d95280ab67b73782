import type { Command } from 'commander';

/** A command path ('' for the program, 'lab up', ...) and the words that may follow it. */
interface Completion {
  path: string;
  /** Its subcommands (and `help`), offered for a word that is not a flag. */
  commands: string[];
  /** Its flags, offered for a word that starts with "-". */
  flags: string[];
}

function completions(cmd: Command, path: string[] = []): Completion[] {
  const flags = [...cmd.options.flatMap((o) => [o.short, o.long]), '--help'].filter((f): f is string => !!f);
  const names = cmd.commands.map((c) => c.name());
  const commands = names.length ? [...names, 'help'] : [];
  const here: Completion = { path: path.join(' '), commands, flags };
  // `dokkaa help X` and `dokkaa lab help X` complete X like the command itself.
  const help: Completion[] = names.length ? [{ path: [...path, 'help'].join(' '), commands: names, flags: [] }] : [];
  return [here, ...help, ...cmd.commands.flatMap((c) => completions(c, [...path, c.name()]))];
}

/**
 * A bash completion script for `program`, generated from its command tree: subcommand names,
 * then each command's flags; other words fall back to file names (`-o default`).
 */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const table = completions(program);
  const quote = (words: string[]) => `'${words.join(' ')}'`;
  return [
    `# bash completion for ${name}: source <(${name} completion), or save it in /etc/bash_completion.d/${name}`,
    `${fn}() {`,
    `  local cur="\${COMP_WORDS[COMP_CWORD]}" path='' next i`,
    '  # The command path: the words before this one that name a (sub)command, in order.',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    next="${path:+$path }${COMP_WORDS[i]}"',
    '    case "$next" in',
    `      ${table.filter((c) => c.path).map((c) => quote([c.path])).join('|')}) path="$next" ;;`,
    '    esac',
    '  done',
    "  local commands='' flags=''",
    '  case "$path" in',
    ...table.map((c) => `    ${quote([c.path])}) commands=${quote(c.commands)} flags=${quote(c.flags)} ;;`),
    '  esac',
    '  if [[ "$cur" == -* ]]; then',
    '    COMPREPLY=($(compgen -W "$flags" -- "$cur"))',
    '  else',
    '    COMPREPLY=($(compgen -W "$commands" -- "$cur"))',
    '  fi',
    '}',
    `complete -o default -F ${fn} ${name}`,
  ].join('\n');
}
