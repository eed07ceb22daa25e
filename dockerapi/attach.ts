// POST /containers/{id}/attach (hijacked) and POST /exec/{id}/start|resize, GET /exec/{id}/json,
// POST /containers/{id}/exec: the endpoints that carry a process's streams.
import { BerthError, invalidArgument, notFound } from '../lib/errors.js';
import { flag, intParam, sendJson } from './http-util.js';
import { relay, responseConn, upgradeConn, type StreamConn } from './hijack.js';
import { exitCodeOf } from './backend.js';
import { jsonBody, resOf, NAME, type Ctx, type Route } from './route.js';

function conn(c: Ctx, tty: boolean): StreamConn {
  if (c.upgrade) return upgradeConn(c.upgrade.socket, c.upgrade.head, tty);
  return responseConn(c.req, resOf(c), tty);
}

function resolve(c: Ctx, idOrName: string) {
  try { return c.b.engine.resolve(idOrName); } catch (e) {
    if (e instanceof BerthError && e.code === 'NOT_FOUND') throw notFound(`No such container: ${idOrName}`);
    throw e;
  }
}

interface ExecBody {
  AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean; Tty?: boolean; Cmd?: string[];
  Env?: string[] | null; WorkingDir?: string; User?: string; Privileged?: boolean; ConsoleSize?: [number, number] | null;
  Detach?: boolean;
}

export const streamRoutes: Route[] = [
  {
    method: 'POST', path: new RegExp(`^/containers/${NAME}/attach$`), hijack: true,
    async handle(c) {
      const r = resolve(c, c.params[0]);
      const v = c.b.engine.view(r);
      if (v.status !== 'running' && v.status !== 'created') {
        throw new BerthError('FAILED_PRECONDITION', 'You cannot attach to a stopped container, start it first');
      }
      const want = { tty: Boolean(r.tty), stdin: flag(c.query, 'stdin') && Boolean(r.stdin), stdout: flag(c.query, 'stdout'), stderr: flag(c.query, 'stderr') };
      const cn = conn(c, want.tty);
      if (v.status === 'running') {
        const s = await c.b.engine.attach(r.id);
        const m = c.b.engine.monitorOf(r.id);
        await relay(cn, s, { ...want, closeStdin: () => m.closeStdin() });
        return;
      }
      // Created: join the streams between the runtime's create and start, so no output is missed.
      const cancel = c.b.onNextStart(r.id, async (m) => {
        const s = await m.attach();
        void relay(cn, s, { ...want, closeStdin: () => m.closeStdin() });
      });
      cn.closed.then(cancel);
    },
  },
  {
    method: 'POST', path: new RegExp(`^/containers/${NAME}/exec$`),
    async handle(c) {
      const body = await jsonBody<ExecBody>(c);
      if (!body.Cmd?.length) throw invalidArgument('No exec command specified');
      const e = c.b.createExec(c.params[0], {
        cmd: body.Cmd, env: body.Env ?? undefined, user: body.User || undefined, workdir: body.WorkingDir || undefined,
        tty: Boolean(body.Tty), attachStdin: Boolean(body.AttachStdin), attachStdout: body.AttachStdout ?? true,
        attachStderr: body.AttachStderr ?? true, privileged: Boolean(body.Privileged),
        consoleSize: body.ConsoleSize && body.ConsoleSize[0] > 0 ? { rows: body.ConsoleSize[0], cols: body.ConsoleSize[1] } : undefined,
      });
      sendJson(resOf(c), 201, { Id: e.id });
    },
  },
  {
    method: 'POST', path: new RegExp(`^/exec/${NAME}/start$`), hijack: true,
    async handle(c) {
      const e = c.b.exec(c.params[0]);
      const body = await jsonBody<ExecBody>(c);
      if (e.session) throw new BerthError('FAILED_PRECONDITION', `exec ${e.id} has already been started`);
      const cs = body.ConsoleSize && body.ConsoleSize[0] > 0 ? { rows: body.ConsoleSize[0], cols: body.ConsoleSize[1] } : e.consoleSize;
      const { session, streams } = await c.b.engine.exec(e.containerId, {
        cmd: e.cmd, env: e.env, user: e.user, workdir: e.workdir, tty: e.tty, stdin: e.attachStdin, ttySize: e.tty ? cs : undefined,
      });
      e.session = session;
      e.running = true;
      const finished = session.waitExit().then((st) => { e.running = false; e.exitCode = exitCodeOf(st); }, () => { e.running = false; e.exitCode = 126; });
      if (body.Detach) {
        streams?.detach();
        resOf(c).writeHead(200, { 'Content-Type': 'application/json' }).end();
        return;
      }
      const cn = conn(c, e.tty);
      if (streams) await relay(cn, streams, { tty: e.tty, stdin: e.attachStdin, stdout: e.attachStdout, stderr: e.attachStderr, closeStdin: () => session.closeStdin() });
      // The CLI asks for the exit code as soon as the stream ends: have it recorded by then.
      await finished;
      cn.end();
    },
  },
  {
    method: 'POST', path: new RegExp(`^/exec/${NAME}/resize$`),
    async handle(c) {
      const e = c.b.exec(c.params[0]);
      const h = intParam(c.query, 'h'), w = intParam(c.query, 'w');
      if (!h || !w) throw invalidArgument('resize needs h and w');
      if (!e.session) throw new BerthError('FAILED_PRECONDITION', `exec ${e.id} is not running`);
      if (e.tty && e.running) await e.session.resize(h, w);
      sendJson(resOf(c), 200, {});
    },
  },
  {
    method: 'GET', path: new RegExp(`^/exec/${NAME}/json$`),
    async handle(c) {
      const e = c.b.exec(c.params[0]);
      sendJson(resOf(c), 200, {
        ID: e.id, Running: e.running, ExitCode: e.exitCode, ProcessConfig: {
          tty: e.tty, entrypoint: e.cmd[0], arguments: e.cmd.slice(1), privileged: e.privileged, user: e.user ?? '',
        },
        OpenStdin: e.attachStdin, OpenStderr: e.attachStderr, OpenStdout: e.attachStdout, CanRemove: false,
        ContainerID: e.containerId, DetachKeys: '', Pid: e.session?.pid ?? 0,
      });
    },
  },
];
