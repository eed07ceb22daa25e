// `berth inspect NAME...`: containers first, then images (docker's order); JSON stable for scripts.
import type { Register } from './index.js';
import { containerService } from './container-common.js';
import { BerthError, notFound } from '../../lib/errors.js';

export const register: Register = (program, globals) => {
  program.command('inspect')
    .description('show details of containers or images')
    .argument('<name...>')
    .option('--type <type>', 'container or image')
    .option('-f, --format <field>', 'print one field path, e.g. .State.Status or .Id')
    .action((names: string[], o: { type?: string; format?: string }) => {
      const svc = containerService(globals());
      const out: unknown[] = [];
      for (const n of names) {
        let v: unknown;
        if (o.type !== 'image') {
          try {
            const c = svc.inspect(n);
            const r = c.record;
            v = {
              Id: r.id, Name: r.name, Created: r.created, Image: r.image, ImageId: r.imageId,
              State: {
                Status: c.status, Running: c.status === 'running', Restarting: c.status === 'restarting', Paused: c.status === 'paused', Pid: c.pid ?? 0,
                ExitCode: c.exit ? (c.exit.signal ? 128 + c.exit.signal : c.exit.exitCode) : 0,
                OOMKilled: Boolean(c.exit?.oomKilled || c.exit?.reason === 'oom-killed'), Reason: c.exit?.reason, FinishedAt: c.exit?.exitedAt, StartedAt: r.startedAt,
              },
              Config: { Labels: r.labels, Tty: r.tty, OpenStdin: r.stdin, StopSignal: r.stopSignal, ...r.options },
              NetworkSettings: { Network: r.network ?? (r.options as { network?: string } | undefined)?.network ?? 'none', IPAddress: r.ip ?? '' },
              Bundle: r.bundle, Rootfs: r.rootfs, LogPath: c.logPath, SnapshotKey: r.snapshotKey,
              Timeline: r.timeline, RestartCount: c.restartCount ?? 0, AutoRemove: r.autoRemove,
            };
          } catch (e) {
            if (!(e instanceof BerthError && e.code === 'NOT_FOUND') || o.type === 'container') throw e;
          }
        }
        if (v === undefined) {
          try { v = svc.images.inspect(n); } catch (e) {
            if (o.type === undefined && e instanceof BerthError && e.code === 'NOT_FOUND') throw notFound(`no such container or image: ${n}`);
            throw e;
          }
        }
        out.push(v);
      }
      if (o.format) {
        const keys = o.format.replace(/^\{\{\s*|\s*\}\}$/g, '').replace(/^\./, '').split('.').filter(Boolean);
        for (const v of out) {
          let x: unknown = v;
          for (const k of keys) x = (x as Record<string, unknown> | undefined)?.[k];
          console.log(typeof x === 'string' ? x : JSON.stringify(x));
        }
        return;
      }
      console.log(JSON.stringify(out, null, 2));
    });
};
