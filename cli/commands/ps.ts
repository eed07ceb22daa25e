// `berth ps [-a] [-q] [--format table|json]`: stable output for scripts.
import type { Register } from './index.js';
import { containerService, shortCid } from './container-common.js';
import type { ContainerView } from '../../engine/service.js';

function statusText(v: ContainerView): string {
  const since = (iso?: string) => (iso ? ago(Date.parse(iso)) : '');
  switch (v.status) {
    case 'running': return `Up ${since(v.record.startedAt)}`;
    case 'paused': return `Up ${since(v.record.startedAt)} (Paused)`;
    case 'created': return 'Created';
    case 'restarting': return `Restarting (${v.exit ? (v.exit.signal ? 128 + v.exit.signal : v.exit.exitCode) : '?'}) ${since(v.exit?.exitedAt)} ago`;
    case 'exited': return `Exited (${v.exit?.signal ? 128 + v.exit.signal : v.exit?.exitCode ?? '?'}) ${since(v.exit?.exitedAt)} ago${v.exit?.reason === 'monitor died' ? ' (monitor died)' : ''}`;
    default: return v.status;
  }
}

function ago(t: number): string {
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  if (s < 3600) return `${Math.round(s / 60)} minutes`;
  if (s < 86400) return `${Math.round(s / 3600)} hours`;
  return `${Math.round(s / 86400)} days`;
}

function commandOf(v: ContainerView): string {
  return (v.record.args ?? (v.record.options as { command?: string[] })?.command ?? []).join(' ');
}

export function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] + 3))).join('').trimEnd()).join('\n');
}

export const register: Register = (program, globals) => {
  program.command('ps')
    .description('list containers')
    .option('-a, --all', 'show all containers (default: running only)')
    .option('-q, --quiet', 'only ids')
    .option('--no-trunc', 'full ids and commands')
    .option('--format <fmt>', 'table or json', 'table')
    .action((o: { all?: boolean; quiet?: boolean; trunc?: boolean; format: string }) => {
      const views = containerService(globals()).list({ all: o.all });
      const id = (x: string) => (o.trunc === false ? x : shortCid(x));
      if (o.quiet) { for (const v of views) console.log(id(v.record.id)); return; }
      if (o.format === 'json') {
        for (const v of views) {
          console.log(JSON.stringify({
            Id: v.record.id, Names: v.record.name, Image: v.record.image, Command: commandOf(v),
            Created: v.record.created, State: v.status, Status: statusText(v), Labels: v.record.labels,
            ...(v.exit ? { ExitCode: v.exit.signal ? 128 + v.exit.signal : v.exit.exitCode } : {}),
          }));
        }
        return;
      }
      const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES']];
      for (const v of views) {
        const cmd = commandOf(v);
        rows.push([id(v.record.id), v.record.image, JSON.stringify(o.trunc === false ? cmd : cmd.slice(0, 20)), `${ago(Date.parse(v.record.created))} ago`, statusText(v), v.record.name]);
      }
      console.log(table(rows));
    });
};
