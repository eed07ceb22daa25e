// Flag parsing with the rules of runc's CLI (Go's flag package under urfave/cli), so callers written for
// runc work unchanged: `-flag` and `--flag`, `--flag=value` or `--flag value`, booleans only take
// `=value`, parsing stops at the first positional argument or `--`, repeated list flags accumulate.
import { invalidArgument } from '../../lib/errors.js';

export type FlagType = 'bool' | 'string' | 'int' | 'list';

export interface FlagDef {
  name: string;
  aliases?: readonly string[];
  type: FlagType;
  help: string;
  /** Shown in help; list flags default to [], bools to false. */
  default?: string | number | boolean;
  /** Accepted and ignored (runc compatibility). */
  ignored?: boolean;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  flags: FlagValues;
  rest: string[];
}

export function parseFlags(argv: string[], defs: readonly FlagDef[], what: string): Parsed {
  const byName = new Map<string, FlagDef>();
  for (const d of defs) for (const n of [d.name, ...(d.aliases ?? [])]) byName.set(n, d);
  const flags: FlagValues = {};
  for (const d of defs) {
    if (d.type === 'list') flags[d.name] = [];
    else if (d.type === 'bool') flags[d.name] = d.default ?? false;
    else if (d.default !== undefined) flags[d.name] = d.default;
  }
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const def = byName.get(name);
    if (!def) throw invalidArgument(`${what}: flag provided but not defined: -${name}`);
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (def.type === 'bool') {
      if (value === undefined) flags[def.name] = true;
      else if (/^(1|t|true|T|TRUE|True)$/.test(value)) flags[def.name] = true;
      else if (/^(0|f|false|F|FALSE|False)$/.test(value)) flags[def.name] = false;
      else throw invalidArgument(`${what}: invalid boolean value ${JSON.stringify(value)} for -${name}`);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw invalidArgument(`${what}: flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (def.type === 'int') {
      if (!/^-?\d+$/.test(value)) throw invalidArgument(`${what}: invalid value ${JSON.stringify(value)} for -${name}: not an integer`);
      flags[def.name] = Number(value);
    } else if (def.type === 'list') {
      (flags[def.name] as string[]).push(value);
    } else flags[def.name] = value;
  }
  return { flags, rest: argv.slice(i) };
}

export function flagHelp(defs: readonly FlagDef[]): string {
  return defs
    .filter((d) => !d.ignored)
    .map((d) => {
      const names = [d.name, ...(d.aliases ?? [])].map((n) => (n.length === 1 ? `-${n}` : `--${n}`)).join(', ');
      const arg = d.type === 'bool' ? '' : d.type === 'int' ? ' value' : ' value';
      const def = d.default !== undefined && d.type !== 'bool' ? ` (default: ${JSON.stringify(d.default)})` : '';
      return `   ${(names + arg).padEnd(30)} ${d.help}${def}`;
    })
    .join('\n');
}
