// `berth image inspect IMAGE...`: JSON with ID, names, digests, config, layers, sizes, created.
import type { Register } from './index.js';
import { ImageService } from '../../image/index.js';
import { imageCommand } from './image-common.js';

export const register: Register = (program, globals) => {
  imageCommand(program).command('inspect')
    .description('show details of images')
    .argument('<image...>', 'names or IDs')
    .option('-f, --format <field>', 'print one top-level field (e.g. id, topChainId) instead of JSON')
    .action((names: string[], o: { format?: string }) => {
      const svc = new ImageService(globals().root);
      const out = names.map((n) => svc.inspect(n));
      if (o.format) {
        const key = o.format.replace(/^\{\{\s*\.?|\s*\}\}$/g, '');
        for (const d of out) {
          const v = (d as unknown as Record<string, unknown>)[key] ?? (d as unknown as Record<string, unknown>)[key.charAt(0).toLowerCase() + key.slice(1)];
          console.log(typeof v === 'string' ? v : JSON.stringify(v));
        }
        return;
      }
      console.log(JSON.stringify(out, null, 2));
    });
};
