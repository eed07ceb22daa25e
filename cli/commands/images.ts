// `berth images` (also `berth image ls`): one line per name, like `docker images`.
import type { Command } from 'commander';
import type { Register } from './index.js';
import { ImageService, parseReference, familiarName } from '../../image/index.js';
import { humanSize, imageCommand, shortId } from './image-common.js';

interface Opts { quiet?: boolean; digests?: boolean; format?: string; noTrunc?: boolean }

function ago(iso?: string): string {
  if (!iso) return 'N/A';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return 'N/A';
  const units: [number, string][] = [[31536000, 'year'], [2592000, 'month'], [604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [n, u] of units) if (s >= n) { const v = Math.floor(s / n); return `${v} ${u}${v > 1 ? 's' : ''} ago`; }
  return 'Less than a minute ago';
}

export const register: Register = (program, globals) => {
  const define = (cmd: Command) => cmd
    .description('list local images')
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show digests')
    .option('--no-trunc', 'full image IDs')
    .option('--format <json>', 'output format: json')
    .action((o: Opts) => {
      const list = new ImageService(globals().root).list();
      if (o.format === 'json') { console.log(JSON.stringify(list, null, 2)); return; }
      const id = (d: string) => (o.noTrunc ? d : shortId(d));
      if (o.quiet) { for (const i of new Set(list.map((l) => id(l.id)))) console.log(i); return; }
      const rows: string[][] = [['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE']];
      for (const img of list) {
        const names = img.names.length ? img.names : ['<none>'];
        for (const n of names) {
          const ref = n === '<none>' ? undefined : parseReference(n);
          const repo = ref ? familiarName(ref) : (img.repoDigests[0]?.split('@')[0] ?? '<none>');
          // Only names pulled from a registry have a digest there (as in docker images --digests).
          const digest = img.repoDigests.find((d) => d.startsWith(`${ref ? `${ref.registry}/${ref.repository}` : ''}@`))?.split('@')[1] ?? '<none>';
          rows.push([repo, ref?.tag ?? '<none>', ...(o.digests ? [digest] : []), id(img.id), ago(img.created), humanSize(img.size)]);
        }
      }
      const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
      for (const r of rows) console.log(r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(w[c] + 3))).join(''));
    });
  define(program.command('images'));
  define(imageCommand(program).command('ls').alias('list'));
};
