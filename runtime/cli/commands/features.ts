import type { Command } from '../command.js';
import { runtimeFeatures } from '../../container/features.js';
import { VERSION } from '../version.js';

export const command: Command = {
  usage: '',
  summary: 'show the enabled features',
  flags: [],
  args: 0,
  async run({ io }) {
    io.out(JSON.stringify(await runtimeFeatures(VERSION), null, 4) + '\n');
    return 0;
  },
};
