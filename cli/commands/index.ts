// The list of `berth` commands. Each module exports `register(program, globals)`.
import type { Command } from 'commander';
import type { GlobalOptions } from '../context.js';

export type Register = (program: Command, globals: () => GlobalOptions) => void;

export const commands: Register[] = [];
