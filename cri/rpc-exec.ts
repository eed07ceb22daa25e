// RuntimeService: ExecSync, and Exec, Attach and PortForward, which answer with a one-time URL of
// berth's streaming server (streaming.ts).
import { failedPrecondition, invalidArgument, unavailable } from '../lib/errors.js';
import type { CriContext } from './context.js';
import type { Msg } from './grpc-status.js';
import { containerView } from './rpc-container.js';

export function execHandlers(ctx: CriContext) {
  return {
    ExecSync: async (req: Msg) => {
      const cmd: string[] = req.cmd ?? [];
      if (!cmd.length) throw invalidArgument('ExecSync needs a command');
      const v = containerView(ctx, req.container_id ?? '');
      const timeoutS = Number(req.timeout ?? 0);
      const res = await ctx.svc.execSync(v.record.id, { cmd, timeoutMs: timeoutS > 0 ? timeoutS * 1000 : undefined });
      return { stdout: Buffer.from(res.stdout), stderr: Buffer.from(res.stderr), exit_code: res.exitCode };
    },
    Exec: (req: Msg) => {
      const cmd: string[] = req.cmd ?? [];
      if (!cmd.length) throw invalidArgument('Exec needs a command');
      const o = streamFlags(req);
      const v = containerView(ctx, req.container_id ?? '');
      if (v.engine?.status !== 'running') throw failedPrecondition(`container ${v.record.id} is not running`);
      return { url: streaming(ctx).url({ kind: 'exec', containerId: v.record.id, cmd, ...o }) };
    },
    Attach: (req: Msg) => {
      const o = streamFlags(req);
      const v = containerView(ctx, req.container_id ?? '');
      if (v.engine?.status !== 'running') throw failedPrecondition(`container ${v.record.id} is not running`);
      return { url: streaming(ctx).url({ kind: 'attach', containerId: v.record.id, ...o }) };
    },
    PortForward: (req: Msg) => {
      const sb = ctx.sandboxes.get(req.pod_sandbox_id ?? '');
      if (!sb.ready) throw failedPrecondition(`pod sandbox ${sb.record.id} is not ready`);
      return { url: streaming(ctx).url({ kind: 'portforward', sandboxId: sb.record.id, ports: (req.port ?? []).map(Number) }) };
    },
  };
}

function streaming(ctx: CriContext) {
  if (!ctx.streaming) throw unavailable('the streaming server is not running');
  return ctx.streaming;
}

function streamFlags(req: Msg) {
  const o = { tty: Boolean(req.tty), stdin: Boolean(req.stdin), stdout: Boolean(req.stdout), stderr: Boolean(req.stderr) };
  if (o.tty && o.stderr) throw invalidArgument('tty and stderr cannot both be true (a terminal has one output stream)');
  if (!o.stdin && !o.stdout && !o.stderr) throw invalidArgument('one of stdin, stdout and stderr must be true');
  return o;
}
