// create: bundle -> container whose init waits on exec.fifo (runtime-spec lifecycle steps 1-4).
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { isBerthError } from '../../lib/errors.js';
import { runHooks } from '../hooks.js';
import { OCI_VERSION, ociState, procStat, validateId, type ContainerLock, type ContainerRecord } from '../state.js';
import { readBundle } from './bundle.js';
import type { Runtime } from './context.js';
import { containerCgroup, type ContainerCgroup } from './cgroup.js';
import { destroyContainer } from './destroy.js';
import { resourcesWithDevices } from './devices.js';
import { reapIfStale } from './load.js';
import { mark } from '../../lib/timing.js';

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
  const { dir: bundle, spec } = await readBundle(opts.bundle);
  mark('read-bundle');
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
  try {
    rt.store.write(rec);
    const seccomp = spec.linux?.seccomp ? await compile(spec.linux.seccomp, rt.store.root) : undefined;
    const { createContainerProcess } = await import('../launch.js');
    const { pid } = await createContainerProcess({
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
      onPid: async (pid: number) => {
        // Record the pid and cgroup before touching anything, so a cleanup after a crash finds them.
        mark('plan+clone');
        rec.pid = pid;
        rec.initStartTime = procStat(pid)?.startTime ?? '';
        cg = await containerCgroup(rec);
        rec.cgroupPaths = cg.paths();
        rt.store.write(rec);
        await cg.create();
        await cg.addProcess(pid);
        // runc's rule: the config's device rules, then the standard devices every container needs
        // (null, zero, tty, ptmx...) and the device nodes the config creates, so init can mknod them.
        const { containerDeviceRules } = await import('../cgroups/index.js');
        const res = spec.linux?.resources;
        if (res) await cg.apply({ ...res, ...(res.devices ? { devices: containerDeviceRules(res.devices, spec.linux?.devices ?? []) } : {}) });
        mark('cgroups');
        // Lifecycle steps 3-5 and 7 come after step 2, so these hooks see 'created' (runtime-spec
        // runtime.md#state; runtime-tools hooks_stdin checks it; crun agrees, runc says 'creating').
        const state = ociState(rec, 'created');
        // prestart is deprecated but still in the spec; it runs right before createRuntime, as in runc.
        await runHooks('prestart', spec.hooks, state, rt.warn, rt.env);
        await runHooks('createRuntime', spec.hooks, state, rt.warn, rt.env);
      },
      hookState: (pid: number) => JSON.stringify(ociState({ ...rec, pid }, 'created')),
    });
    if (rec.pid !== pid) {
      rec.pid = pid;
      rec.initStartTime = procStat(pid)?.startTime ?? '';
    }
    mark('init-setup');
    rec.phase = 'created';
    rt.store.write(rec);
    if (opts.pidFile) writeFileAtomic(opts.pidFile, String(pid));
    return rec;
  } catch (e) {
    // Spec lifecycle: a failed create destroys what it made and then runs poststop.
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
