import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { alreadyExists } from '../../../lib/errors.js';
import { defaultSpec } from '../../container/spec.js';

export const command: Command = {
  usage: '',
  summary: 'create a new specification file (config.json)',
  flags: [
    { name: 'bundle', aliases: ['b'], type: 'string', help: 'path to the root of the bundle directory' },
    { name: 'rootless', type: 'bool', help: 'generate a configuration for a rootless container' },
  ],
  args: 0,
  async run({ flags, io }) {
    const file = path.join(str(flags.bundle) ?? '.', 'config.json');
    // Never overwrite a config someone wrote by hand (runc refuses too).
    if (fs.existsSync(file)) throw alreadyExists(`${file} exists: remove it first`);
    fs.writeFileSync(file, JSON.stringify(defaultSpec({ rootless: flags.rootless === true }), null, '\t'), { flag: 'wx', mode: 0o666 });
    // The caller's umask, not this process's (the planner writes on behalf of its clients).
    fs.chmodSync(file, 0o666 & ~io.umask);
    return 0;
  },
};
