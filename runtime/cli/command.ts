// The shape of one berth-runtime command: its flags, and what it does with a parsed command line.
import type { Runtime } from '../container/context.js';
import type { FlagDef, FlagValues } from './args.js';
import type { Logger } from './log.js';
import type { CliIO } from './io.js';
import { invalidArgument } from '../../lib/errors.js';

export interface GlobalOptions {
  root: string;
  debug: boolean;
  log?: string;
  logFormat: 'text' | 'json';
}

export interface CommandContext {
  rt: Runtime;
  flags: FlagValues;
  args: string[];
  globals: GlobalOptions;
  logger: Logger;
  io: CliIO;
}

export interface Command {
  usage: string;
  summary: string;
  flags: readonly FlagDef[];
  /** Exact number of positional arguments, or [min, max]. */
  args: number | [number, number];
  /** Resolves to the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

export function checkArgs(name: string, cmd: Command, args: string[]): void {
  const [min, max] = typeof cmd.args === 'number' ? [cmd.args, cmd.args] : cmd.args;
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw invalidArgument(`"${name}" requires ${want} argument(s), got ${args.length}; usage: berth-runtime ${name} ${cmd.usage}`);
  }
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
