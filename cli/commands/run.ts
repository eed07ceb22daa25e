// `berth run IMAGE [COMMAND...]`: create + start, then attach (or print the id with -d), wait,
// and return the container's exit code (125 when berth itself failed, as docker does).
import type { Register } from './index.js';
import { addCreateOptions, containerService, exitCodeOf, forwardSignals, pipeStdio, toCreateRequest, ttySize, withCommandExitCode, type CreateOpts } from './container-common.js';
import type { AttachStreams } from '../../shim/index.js';
import { mark } from '../../lib/timing.js';

export const register: Register = (program, globals) => {
  addCreateOptions(program.command('run')
    .description('create and start a container from an image (or --rootfs DIR)')
    .argument('[image]', 'image reference (or, with --rootfs, the command)')
    .argument('[command...]', 'command and arguments')
    .option('-d, --detach', 'run in the background and print the container id')
    .passThroughOptions())
    .action(async (image: string | undefined, command: string[], o: CreateOpts & { detach?: boolean }) => {
      const g = globals();
      if (!image && !o.rootfs) throw Object.assign(new Error('"berth run" requires an image (or --rootfs DIR)'), { exitCode: 125 });
      const svc = containerService(g);
      // the start follows in this process: a bridge network is set up while the create finishes
      const rec = await svc.create({ ...toCreateRequest(g, image, command, o, Boolean(o.detach)), networkAtStart: true });
      mark('created');
      if (o.detach) {
        try {
          await svc.start(rec.id);
        } catch (e) {
          if (o.rm) await svc.remove(rec.id, { force: true }).catch(() => undefined);
          throw withCommandExitCode(e);
        }
        console.log(rec.id);
        return;
      }
      let streams: AttachStreams | undefined;
      let m;
      try {
        m = await svc.start(rec.id, {
          ttySize: o.tty ? ttySize() : undefined,
          removeGraceSec: 2,
          beforeStart: async (mon) => { streams = await mon.attach(); },
        });
      } catch (e) {
        if (o.rm) await svc.remove(rec.id, { force: true }).catch(() => undefined);
        throw withCommandExitCode(e);
      }
      mark('started');
      const restore = pipeStdio(streams!, { tty: Boolean(o.tty), stdin: Boolean(o.interactive), monitor: m });
      const stopForwarding = o.tty ? () => {} : forwardSignals((s) => m.signal(s));
      const status = await m.waitExit();
      await streams!.closed;
      mark('exited');
      stopForwarding();
      restore();
      // the monitor's exit command may have removed it already
      if (o.rm) await svc.remove(rec.id, { force: true }).catch((e: unknown) => { if ((e as { code?: string }).code !== 'NOT_FOUND') throw e; });
      mark('removed');
      // Nothing is left to do: exit now rather than after Node's heap teardown (~4 ms), which also
      // spares waiting for stdin. stdout and stderr are written synchronously (files, pipes and
      // terminals on Linux), so the container's output is out already.
      process.exit(exitCodeOf(status));
    });
};
