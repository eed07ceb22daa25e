// create: bundle -> container whose init waits on exec.fifo (runtime-spec lifecycle steps 1-4).
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { isBerthError } from '../../lib/errors.js';
import { runHooks } from '../hooks.js';
import { OCI_VERSION, ociState, procStat, validateId, type ContainerLock, type ContainerRecord } from '../state.js';
import { readBundle } from './bundle.js';
import type { Runtime } from './context.js';
import { containerCgroup, type ContainerCgroup } from './cgroup.js';
import { destroyContainer } from './destroy.js';
import { reapIfStale } from './load.js';
import { mark } from '../../lib/timing.js';
import { opTimer, type OpTimer } from '../../lib/op-timer.js';
import type { EarlyInit } from '../launch.js';

export interface CreateOptions {
  id: string;
  /** Bundle directory; default the current directory, as runc. */
  bundle?: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  stdio?: [number, number, number];
}

export async function createContainer(rt: Runtime, opts: CreateOptions): Promise<ContainerRecord> {
  const id = validateId(opts.id);
  // A process that times itself (the Node CLI; an engine hosting the planner) prints to its own stderr,
  // where its other lines go; a resident planner to its caller's (the thin client's).
  const tm = opTimer('runtime', 'create', id, { env: rt.env, print: process.env.BERTH_TIMING ? (t) => { process.stderr.write(t); } : rt.err });
  const launch = await import('../launch.js');
  // berth-init starts while the bundle is read and the cgroup made: it needs neither until its plan.
  const init = launch.startCreateInit(rt.host, opts.stdio, opts.preserveFds ?? 0);
  let handedOver = false;
  // Until createContainerProcess owns berth-init, ending it is ours (and comes before removing a cgroup it may be in).
  const abandon = () => (handedOver ? Promise.resolve() : launch.abandonInit(init));
  try {
    return await create(rt, opts, id, tm, launch, init, () => { handedOver = true; }, abandon);
  } finally {
    await abandon();
  }
}

async function create(rt: Runtime, opts: CreateOptions, id: string, tm: OpTimer, launch: typeof import('../launch.js'), init: EarlyInit, handOver: () => void, abandon: () => Promise<void>): Promise<ContainerRecord> {
  const { dir: bundle, spec } = await readBundle(opts.bundle);
  mark('read-bundle');
  tm.mark('read-bundle');
  const lock = await claimId(rt, id);
  const rec: ContainerRecord = {
    ociVersion: OCI_VERSION,
    id,
    phase: 'creating',
    pid: 0,
    initStartTime: '',
    bundle,
    annotations: spec.annotations ?? {},
    created: new Date().toISOString(),
    cgroupsPath: spec.linux?.cgroupsPath ?? '',
    cgroupPaths: {},
    rootless: process.getuid?.() !== 0,
    owner: '',
    config: spec,
  };
  let cg: ContainerCgroup | undefined;
  // Settles once the mkdir begun beside the launch is over, whatever its outcome.
  let settled: Promise<void> = Promise.resolve();
  try {
    // The cgroup is recorded before it is made, so a cleanup after a crash finds it; it is made while
    // berth-init starts and plans (no pid is needed for that), on the threadpool.
    cg = await containerCgroup(rec);
    rec.cgroupPaths = cg.paths();
    rt.store.write(rec);
    const made = tm.span('cgroup-mkdir', cg.create());
    settled = made.then(() => {}, () => {});
    // berth-init joins the cgroups itself before it clones, so the container process is born in them
    // (runc joins its init first too). On v1 the first cgroup.procs write after a quiet spell waits
    // for an RCU grace period (5-25 ms here): in berth-init, that wait overlaps with our planning.
    const dirs = [...new Set(Object.values(rec.cgroupPaths))];
    launch.joinCgroups(init, made.then(() => dirs));
    const seccomp = spec.linux?.seccomp ? await compile(spec.linux.seccomp, rt.store.root) : undefined;
    tm.mark('state+seccomp');
    handOver();
    const { pid } = await launch.createContainerProcess({
      id,
      bundle,
      spec,
      stateDir: rt.store.dir(id),
      consoleSocket: opts.consoleSocket,
      noPivot: opts.noPivot,
      noNewKeyring: opts.noNewKeyring,
      preserveFds: opts.preserveFds,
      seccomp,
      stdio: opts.stdio,
      launcher: rt.host,
      init,
      onPid: async (pid: number) => {
        // Record the pid before anything else, so a cleanup after a crash finds it.
        mark('plan+clone');
        tm.mark('plan+clone');
        rec.pid = pid;
        rec.initStartTime = procStat(pid)?.startTime ?? '';
        rt.store.write(rec);
        // Nothing runs in the container before our go. Born inside, it needs no write: this checks.
        await cg!.addProcess(pid);
        tm.mark('join-check');
        // runc's rule: the config's device rules, then the standard devices every container needs
        // (null, zero, tty, ptmx...) and the device nodes the config creates, so init can mknod them.
        const { containerDeviceRules } = await import('../cgroups/index.js');
        const res = spec.linux?.resources;
        if (res) await cg!.apply({ ...res, ...(res.devices ? { devices: containerDeviceRules(res.devices, spec.linux?.devices ?? []) } : {}) });
        mark('cgroups');
        tm.mark('limits');
        // Lifecycle steps 3-5 and 7 come after step 2, so these hooks see 'created' (runtime-spec
        // runtime.md#state; runtime-tools hooks_stdin checks it; crun agrees, runc says 'creating').
        const state = ociState(rec, 'created');
        // prestart is deprecated but still in the spec; it runs right before createRuntime, as in runc.
        await runHooks('prestart', spec.hooks, state, rt.warn, rt.env);
        await runHooks('createRuntime', spec.hooks, state, rt.warn, rt.env);
        if (spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length) tm.mark('hooks');
      },
      onTiming: (from, split) => tm.note(from, split),
      hookState: (pid: number) => JSON.stringify(ociState({ ...rec, pid }, 'created')),
    });
    if (rec.pid !== pid) {
      rec.pid = pid;
      rec.initStartTime = procStat(pid)?.startTime ?? '';
    }
    mark('init-setup');
    tm.mark('init-setup');
    rec.phase = 'created';
    rt.store.write(rec);
    // no fsync: it names a live process, which a power loss ends too (runc's is not synced either)
    if (opts.pidFile) writeFileAtomic(opts.pidFile, String(pid), 0o644, { durable: false });
    tm.mark('state');
    tm.end();
    return rec;
  } catch (e) {
    // Spec lifecycle: a failed create destroys what it made and then runs poststop. A mkdir still in
    // flight, or a berth-init that joined the cgroup and waits for its plan, would race the removal.
    await abandon();
    await settled;
    try {
      if (cg) rec.cgroupPaths = cg.paths();
      await destroyContainer(rt, rec, { poststop: true });
    } catch (e2) {
      rt.warn(`cleaning up after the failed create of ${id}: ${(e2 as Error).message}`);
    }
    throw e;
  } finally {
    lock.release();
  }
}

async function claimId(rt: Runtime, id: string): Promise<ContainerLock> {
  try {
    return rt.store.claim(id);
  } catch (e) {
    // A create that died half-way left the directory: clean it and take the id.
    if (isBerthError(e, 'ALREADY_EXISTS') && (await reapIfStale(rt, id))) return rt.store.claim(id);
    throw e;
  }
}

async function compile(seccomp: NonNullable<NonNullable<import('../spec/config-schema.js').Spec['linux']>['seccomp']>, cacheDir: string) {
  const { compileSeccompCached } = await import('../seccomp/index.js');
  const c = compileSeccompCached(seccomp, cacheDir);
  return { filter: c.filter, flags: c.flags };
}
