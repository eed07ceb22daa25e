// berth-init exec through runtime/launch.ts: joining a running container's namespaces, exit codes,
// identity, tty, detach, and clean failures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { makeBundle, defaultSpec, waitGone, alive, consoleServer, track, killLeftovers, type Bundle } from '../lib/init.js';
import { createContainerProcess, startContainerProcess, execProcess, type ExecRequest } from '../../runtime/launch.js';
import type { Spec, Process } from '../../runtime/spec/config-schema.js';
import { isBerthError } from '../../lib/errors.js';

let b: Bundle;
let spec: Spec;
let initPid = 0;

async function execCapture(proc: Partial<Process> & { args: string[] }, extra: Partial<ExecRequest> = {}): Promise<{ out: string; code: number; pid: number }> {
  const outFile = path.join(b.dir, `exec-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const fd = fs.openSync(outFile, 'w+');
  const nul = fs.openSync('/dev/null', 'r');
  try {
    const h = await execProcess({
      containerPid: initPid, spec, detach: false, stdio: [nul, fd, fd],
      process: { ...spec.process!, ...proc }, onPid: async () => {}, ...extra,
    });
    const code = await h.wait();
    return { out: fs.readFileSync(outFile, 'utf8'), code, pid: h.pid };
  } finally { fs.closeSync(fd); fs.closeSync(nul); }
}

if (!isRoot) {
  skip('init-exec', 'needs root');
} else {
  test.before(async () => {
    b = makeBundle();
    spec = defaultSpec(['/bin/sleep', '60']);
    spec.linux!.namespaces!.push({ type: 'cgroup' });
    const nul = fs.openSync('/dev/null', 'r+');
    initPid = track((await createContainerProcess({ bundle: b.bundle, spec, stateDir: b.stateDir, stdio: [nul, nul, nul], onPid: async () => {}, hookState: () => '{}' })).pid);
    fs.closeSync(nul);
    await startContainerProcess(b.stateDir);
  });
  test.after(async () => {
    await killLeftovers();
    if (initPid) { try { process.kill(initPid, 'SIGKILL'); } catch { /* gone */ } await waitGone(initPid); }
    b.cleanup();
  });

  test('exec joins every namespace of the container and its root', async () => {
    const r = await execCapture({ args: ['/bin/sh', '-c', 'for n in ipc net mnt uts pid cgroup; do echo $n=$(readlink /proc/self/ns/$n); done; hostname; ps -o pid,args | grep -c "sleep 60"; ls /'] });
    assert.is(r.code, 0);
    for (const n of ['ipc', 'net', 'mnt', 'uts', 'pid', 'cgroup']) {
      assert.match(r.out, new RegExp(`^${n}=${fs.readlinkSync(`/proc/${initPid}/ns/${n}`).replace(/[[\]]/g, '\\$&')}$`, 'm'));
    }
    assert.match(r.out, /^berth$/m);
    assert.match(r.out, /^bin$/m);
  });

  test('exit code and signals come back through wait()', async () => {
    assert.is((await execCapture({ args: ['/bin/sh', '-c', 'exit 7'] })).code, 7);
    assert.is((await execCapture({ args: ['/bin/sh', '-c', 'kill -9 $$'] })).code, 137);
  });

  test('a non-detached exec forwards signals to the process', async () => {
    const nul = fs.openSync('/dev/null', 'r+');
    const h = await execProcess({ containerPid: initPid, spec, detach: false, stdio: [nul, nul, nul], process: { ...spec.process!, args: ['/bin/sleep', '30'] }, onPid: async () => {} });
    fs.closeSync(nul);
    // berth-init (our child) relays SIGTERM; find it as the parent of the exec'd pid.
    const ppid = Number(fs.readFileSync(`/proc/${h.pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    process.kill(ppid, 'SIGTERM');
    assert.is(await h.wait(), 128 + 15);
  });

  test('identity, capabilities, cwd, env and rlimits of the exec process', async () => {
    const r = await execCapture({
      args: ['/bin/sh', '-c', 'id; pwd; echo $X; ulimit -n; grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status'],
      user: { uid: 1000, gid: 1000, additionalGids: [2000] }, cwd: '/tmp', env: ['X=exec-env', 'PATH=/bin'],
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }],
      capabilities: { bounding: ['CAP_KILL'], effective: [], permitted: [] },
    });
    assert.match(r.out, /uid=1000\(user\) gid=1000\(user\) groups=2000\(extra\)/);
    assert.match(r.out, /^\/tmp\nexec-env\n100$/m);
    assert.match(r.out, /CapEff:\t0000000000000000/);
    assert.match(r.out, /CapBnd:\t0000000000000020/);
    assert.match(r.out, /NoNewPrivs:\t1/);
  });


  test('ioPriority, scheduler and execCPUAffinity are applied', async () => {
    const r = await execCapture({
      args: ['/bin/sh', '-c', 'cut -d" " -f19,41 /proc/self/stat; grep Cpus_allowed_list /proc/self/status; cat /proc/self/io >/dev/null; ionice -p $$ 2>/dev/null || echo no-ionice'],
      ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 5 },
      scheduler: { policy: 'SCHED_BATCH', nice: 7 },
      execCPUAffinity: { initial: '0', final: '0' },
    });
    assert.is(r.code, 0, r.out);
    assert.match(r.out, /^7 3$/m, 'nice 7, policy SCHED_BATCH (3)');
    assert.match(r.out, /Cpus_allowed_list:\t0$/m);
    if (!r.out.includes('no-ionice')) assert.match(r.out, /best-effort: prio 5/);
  });

  test('preserve-fds: the caller fds 3..3+N-1 reach the process, nothing else does', async () => {
    const own = fs.readlinkSync('/proc/self/fd/3');
    const r = await execCapture({ args: ['/bin/sh', '-c', 'readlink /proc/self/fd/3; ls /proc/self/fd | tr "\\n" " "'] }, { preserveFds: 1 });
    assert.is(r.code, 0);
    assert.is(r.out.split('\n')[0], own);
    assert.equal(r.out.split('\n')[1].trim().split(' ').map(Number).filter((n) => n !== 4), [0, 1, 2, 3], 'ls holds one more');
  });


  test('exec into a container with a user namespace (joined first)', async () => {
    const b2 = makeBundle();
    fs.chmodSync(b2.dir, 0o755);
    const s2 = defaultSpec(['/bin/sleep', '60']);
    s2.linux!.namespaces!.push({ type: 'user' });
    s2.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    s2.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    const nul = fs.openSync('/dev/null', 'r+');
    const { pid } = await createContainerProcess({ bundle: b2.bundle, spec: s2, stateDir: b2.stateDir, stdio: [nul, nul, nul], onPid: async () => {}, hookState: () => '{}' });
    track(pid);
    try {
      await startContainerProcess(b2.stateDir);
      const out = path.join(b2.dir, 'o');
      const fd = fs.openSync(out, 'w');
      const h = await execProcess({ containerPid: pid, spec: s2, detach: false, stdio: [nul, fd, fd], onPid: async () => {},
        process: { ...s2.process!, user: { uid: 1000, gid: 1000 }, args: ['/bin/sh', '-c', 'id -u; readlink /proc/self/ns/user; cat /proc/self/uid_map'] } });
      assert.is(await h.wait(), 0);
      fs.closeSync(fd);
      const text = fs.readFileSync(out, 'utf8');
      assert.match(text, /^1000$/m);
      assert.ok(text.includes(fs.readlinkSync(`/proc/${pid}/ns/user`)));
      assert.match(text, /^\s*0\s+200000\s+65536$/m);
    } finally {
      fs.closeSync(nul);
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      await waitGone(pid);
      b2.cleanup();
    }
  });

  test('exec with a tty through the console socket', async () => {
    const con = await consoleServer(fs.mkdtempSync(path.join(b.dir, 'con-')));
    try {
      const r = await execCapture({ args: ['/bin/sh', '-c', 'tty; echo exec-pty'], terminal: true }, { consoleSocket: con.socket });
      assert.is(r.code, 0);
      assert.is(r.out, '');
      const out = await con.output();
      assert.match(out, /\/dev\/pts\/\d+/);
      assert.match(out, /exec-pty/);
    } finally { con.close(); }
  });

  test('detach: returns once started; the process outlives berth-init', async () => {
    const nul = fs.openSync('/dev/null', 'r+');
    const h = await execProcess({ containerPid: initPid, spec, detach: true, stdio: [nul, nul, nul], process: { ...spec.process!, args: ['/bin/sleep', '30'] }, onPid: async () => {} });
    fs.closeSync(nul);
    assert.ok(alive(h.pid));
    const err = await h.wait().then(() => undefined, (e) => e);
    assert.ok(isBerthError(err, 'FAILED_PRECONDITION'));
    process.kill(h.pid, 'SIGKILL');
    await waitGone(h.pid);
  });

  test('a missing executable is one clear NOT_FOUND error', async () => {
    const err = await execCapture({ args: ['nosuchcmd'] }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(err, 'NOT_FOUND'), String(err));
    assert.is(err.message, 'berth-init: exec nosuchcmd: executable file not found in $PATH');
  });

  test('onPid throwing kills the exec process before it runs', async () => {
    let pid = 0;
    const err = await execCapture({ args: ['/bin/sh', '-c', 'touch /aborted'] }, { onPid: async (p) => { pid = p; throw new Error('no cgroup'); } }).then(() => undefined, (e) => e);
    assert.is(err?.message, 'no cgroup');
    assert.ok(pid > 0 && !alive(pid));
    assert.ok(!fs.existsSync(path.join(b.rootfs, 'aborted')));
  });

  test('exec into a container that is gone fails clearly', async () => {
    const err = await execProcess({ containerPid: 999999, spec, detach: false, process: spec.process!, onPid: async () => {} }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(err, 'FAILED_PRECONDITION'), String(err));
  });
}

test.run();
