// berth-init create/start through runtime/launch.ts, as root on the real kernel: namespaces, mounts,
// devices, masked/readonly paths, identity, capabilities, rlimits, hooks, console, failures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, REPO } from '../lib/harness.js';
import { makeBundle, defaultSpec, runContainer, hostMountsUnder, alive, waitGone, consoleServer, track, killLeftovers, type Bundle } from '../lib/init.js';
import { createContainerProcess, startContainerProcess, execProcess } from '../../runtime/launch.js';
import type { Spec } from '../../runtime/spec/config-schema.js';
import { isBerthError } from '../../lib/errors.js';

const bundles: Bundle[] = [];
function bundle(): Bundle { const b = makeBundle(); bundles.push(b); return b; }
function sh(script: string, mod?: (s: Spec) => void): Spec {
  const s = defaultSpec(['/bin/sh', '-c', script]);
  mod?.(s);
  return s;
}
const nsInode = (kind: string) => fs.readlinkSync(`/proc/self/ns/${kind}`);

test.after(async () => { await killLeftovers(); for (const b of bundles) b.cleanup(); });

if (!isRoot) {
  skip('init-create', 'needs root');
} else {
  test('namespaces: pid 1, own uts/ipc/net/mnt, hostname; cgroup and time namespaces when asked', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('echo pid=$$; hostname; for n in ipc net mnt uts pid cgroup time; do echo $n=$(readlink /proc/self/ns/$n); done; cat /proc/net/dev | tail -n +3 | cut -d: -f1; cat /proc/uptime', (s) => {
      s.linux!.namespaces!.push({ type: 'cgroup' }, { type: 'time' });
      s.linux!.timeOffsets = { boottime: { secs: 1000000, nanosecs: 0 } };
    }));
    assert.match(r.out, /^pid=1$/m);
    assert.match(r.out, /^berth$/m);
    for (const n of ['ipc', 'net', 'mnt', 'uts', 'pid', 'cgroup', 'time']) {
      const m = r.out.match(new RegExp(`^${n}=(.*)$`, 'm'));
      assert.ok(m, `${n} line in ${r.out}`);
      assert.is.not(m![1], nsInode(n), `${n} namespace must differ from the host's`);
    }
    assert.equal(r.out.match(/^\s*(lo|eth\d+|\w+)\s*$/gm)?.map((l) => l.trim()).filter((l) => l === 'lo'), ['lo']);
    const uptime = Number(r.out.trim().split('\n').pop()!.split(' ')[0]);
    assert.ok(uptime >= 1000000, `boottime offset applied (uptime ${uptime})`);
  });

  test('user namespace with id maps: root inside is 100000 outside', async () => {
    const b = bundle();
    fs.chmodSync(b.dir, 0o755); // root in the container is uid 100000 outside: it must reach the rootfs
    // ...but not the state dir: berth-init's privileged parent opens exec.fifo for it (as runc).
    const stateParent = fs.mkdtempSync(path.join(b.dir, 'private-'));
    fs.chmodSync(stateParent, 0o700);
    const stateDir = path.join(stateParent, 'state');
    const r = await runContainer({ ...b, stateDir }, sh('cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user; ls -l /dev/null', (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }));
    assert.match(r.out, /^\s*0\s+100000\s+65536$/m);
    assert.match(r.out, /^0$/m);
    assert.ok(!r.out.includes(nsInode('user')), 'own user namespace');
    assert.match(r.out, /c.*1,\s+3.*\/dev\/null/, 'devices are bound from the host in a user namespace');
  });

  test('mounts: bind dir and file, rbind, ro bind, tmpfs, proc, sysfs, devpts, mqueue', async () => {
    const b = bundle();
    const src = path.join(b.dir, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'hello'), 'from host\n');
    fs.writeFileSync(path.join(b.dir, 'file'), 'single file\n');
    const r = await runContainer(b, sh([
      'cat /mnt/bind/hello /mnt/file', 'echo w > /mnt/bind/new && echo bind-rw-ok',
      'echo w > /mnt/ro/x 2>/dev/null || echo ro-denied', 'cat /mnt/rbind/hello',
      'grep -E " /(mnt/tmp|proc|sys|dev/pts|dev/mqueue|mnt/ro|dev/shm) " /proc/self/mountinfo | awk \'{print $5, $6, $9}\'',
    ].join('; '), (s) => {
      s.mounts!.push(
        { destination: '/mnt/bind', type: 'bind', source: src, options: ['bind'] },
        { destination: '/mnt/file', type: 'bind', source: path.join(b.dir, 'file'), options: ['bind', 'ro'] },
        { destination: '/mnt/rbind', source: src, options: ['rbind', 'nosuid'] },
        { destination: '/mnt/ro', type: 'bind', source: src, options: ['bind', 'ro', 'nodev'] },
        { destination: '/mnt/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'noexec'] },
      );
    }));
    assert.match(r.out, /from host\nsingle file\n/);
    assert.match(r.out, /bind-rw-ok/);
    assert.match(r.out, /ro-denied/);
    assert.ok(fs.existsSync(path.join(src, 'new')), 'write through the rw bind reached the host');
    assert.ok(!fs.existsSync(path.join(src, 'x')));
    assert.match(r.out, /^\/mnt\/ro ro,nodev\S* /m);
    assert.match(r.out, /^\/mnt\/tmp rw,\S*noexec\S* tmpfs$/m);
    assert.match(r.out, /^\/proc \S+ proc$/m);
    assert.match(r.out, /^\/sys ro,\S+ sysfs$/m);
    assert.match(r.out, /^\/dev\/pts \S+ devpts$/m);
    assert.match(r.out, /^\/dev\/mqueue \S+ mqueue$/m);
    assert.equal(hostMountsUnder(b.dir), []);
  });

  test('a mount destination symlinked out of the rootfs stays inside it', async () => {
    const b = bundle();
    fs.symlinkSync('/etc', path.join(b.rootfs, 'escape'));
    const r = await runContainer(b, sh('grep " /etc " /proc/self/mountinfo | awk "{print \\$5}"', (s) => {
      s.mounts!.push({ destination: '/escape', type: 'tmpfs', source: 'tmpfs' });
    }));
    assert.match(r.out, /^\/etc$/m, 'the tmpfs landed on the rootfs /etc');
    assert.ok(fs.existsSync('/etc/passwd'), 'host /etc untouched');
    assert.ok(fs.readFileSync(path.join(b.rootfs, 'etc/passwd'), 'utf8').includes('nobody'));
  });

  test('masked and readonly paths, readonly rootfs', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('wc -c < /etc/group; ls /home | wc -l; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro; touch /x 2>/dev/null || echo root-ro; touch /dev/shm/ok && echo shm-rw', (s) => {
      s.root!.readonly = true;
      s.linux!.maskedPaths!.push('/etc/group', '/home');
      fs.writeFileSync(path.join(b.rootfs, 'home/secret'), 'x');
    }));
    assert.equal(r.out.split('\n').slice(0, 3), ['0', '0', '0']);
    assert.match(r.out, /sys-ro/);
    assert.match(r.out, /root-ro/);
    assert.match(r.out, /shm-rw/);
  });

  test('devices: defaults, a listed device with mode and owner, /dev symlinks', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('ls -ln /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/loop-test; for l in ptmx fd stdin; do readlink /dev/$l; done; head -c 4 /dev/zero | wc -c', (s) => {
      s.linux!.devices = [{ type: 'c', path: '/dev/loop-test', major: 1, minor: 3, fileMode: 0o640, uid: 1000, gid: 2000 }];
    }));
    for (const [dev, min] of [['null', 3], ['zero', 5], ['full', 7], ['random', 8], ['urandom', 9]] as const) {
      assert.match(r.out, new RegExp(`^crw-rw-rw-\\s+1 0\\s+0\\s+1,\\s+${min} .*/dev/${dev}$`, 'm'));
    }
    assert.match(r.out, /^crw-r-----\s+1 1000\s+2000\s+1,\s+3 .*\/dev\/loop-test$/m);
    assert.match(r.out, /^pts\/ptmx\n\/proc\/self\/fd\n\/proc\/self\/fd\/0$/m);
    assert.match(r.out, /^4$/m);
  });

  test('capabilities dropped, no_new_privs, all five sets', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('grep -E "^(Cap|NoNewPrivs)" /proc/self/status', (s) => {
      s.process!.capabilities = { bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW'], effective: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_NET_RAW'], inheritable: ['CAP_NET_RAW'], ambient: ['CAP_NET_RAW'] };
    }));
    assert.match(r.out, /CapInh:\t0000000000002000/);
    assert.match(r.out, /CapPrm:\t0000000000002020/);
    assert.match(r.out, /CapEff:\t0000000000002020/); // ambient raises effective at exec
    assert.match(r.out, /CapBnd:\t0000000000002021/);
    assert.match(r.out, /CapAmb:\t0000000000002000/);
    assert.match(r.out, /NoNewPrivs:\t1/);
  });

  test('user, group, additional gids, umask, env, cwd', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('id; umask; echo "$FOO"; pwd; cat /proc/self/status | grep ^Groups; echo home=$HOME', (s) => {
      s.process!.user = { uid: 1000, gid: 1000, additionalGids: [2000, 3000], umask: 0o027 };
      s.process!.env!.push('FOO=bar baz');
      s.process!.cwd = '/home';
      s.process!.noNewPrivileges = false;
    }));
    assert.match(r.out, /uid=1000\(user\) gid=1000\(user\) groups=2000\(extra\),3000/);
    assert.match(r.out, /^0027$/m);
    assert.match(r.out, /^bar baz$/m);
    assert.match(r.out, /^\/home$/m);
    assert.match(r.out, /^Groups:\t2000 3000\s*$/m);
    assert.match(r.out, /^home=\/home$/m, 'HOME from the container /etc/passwd when the env has none (runc)');
  });

  test('rlimits: lowering works; raising above the hard limit fails with a clear error and leaves nothing', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('ulimit -n; ulimit -Hn; ulimit -c', (s) => {
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 64, hard: 128 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }];
    }));
    assert.equal(r.out.split('\n').slice(0, 3), ['64', '128', '0']);

    const b2 = bundle();
    const hard = Number(fs.readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+)/)![1]);
    let pid = 0;
    const err = await createContainerProcess({
      bundle: b2.bundle, stateDir: b2.stateDir, stdio: [0, 1, 2],
      spec: sh('true', (s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: hard + 1, hard: hard + 1 }]; }),
      onPid: async (p) => { pid = p; }, hookState: () => '{}',
    }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(err, 'PERMISSION_DENIED'), String(err));
    assert.is(err.message, `berth-init: setrlimit RLIMIT_NOFILE (soft ${hard + 1}, hard ${hard + 1}): Operation not permitted`);
    assert.ok(pid > 0 && !alive(pid), 'init is gone');
    assert.ok(!fs.existsSync(path.join(b2.stateDir, 'exec.fifo')), 'fifo removed');
    assert.equal(hostMountsUnder(b2.dir), []);
  });

  test('a bad mount: one clear error, no process, no mount, no fifo', async () => {
    const b = bundle();
    let pid = 0;
    const err = await createContainerProcess({
      bundle: b.bundle, stateDir: b.stateDir, stdio: [0, 1, 2],
      spec: sh('true', (s) => { s.mounts!.push({ destination: '/mnt/x', type: 'nosuchfs', source: 'none' }); }),
      onPid: async (p) => { pid = p; }, hookState: () => '{}',
    }).then(() => undefined, (e) => e);
    assert.ok(isBerthError(err), String(err));
    assert.is(err.message, 'berth-init: mount nosuchfs on /mnt/x: No such device');
    assert.ok(pid > 0 && !alive(pid));
    assert.equal(hostMountsUnder(b.dir), []);
    assert.ok(!fs.existsSync(path.join(b.stateDir, 'exec.fifo')));
  });

  test('onPid throwing aborts: init killed before any setup', async () => {
    const b = bundle();
    let pid = 0;
    const err = await createContainerProcess({
      bundle: b.bundle, stateDir: b.stateDir, stdio: [0, 1, 2], spec: sh('true'),
      onPid: async (p) => { pid = p; throw new Error('cgroup setup failed'); }, hookState: () => '{}',
    }).then(() => undefined, (e) => e);
    assert.is(err.message, 'cgroup setup failed');
    assert.ok(pid > 0 && !alive(pid));
    assert.equal(hostMountsUnder(b.dir), []);
  });

  test('init is blocked on exec.fifo until start, then execs; start twice fails clearly', async () => {
    const b = bundle();
    const marker = path.join(b.rootfs, 'ran');
    const nul = fs.openSync('/dev/null', 'r+');
    const { pid } = await createContainerProcess({
      bundle: b.bundle, stateDir: b.stateDir, stdio: [nul, nul, nul], spec: sh('touch /ran'),
      onPid: async () => {}, hookState: () => '{}',
    });
    track(pid);
    fs.closeSync(nul);
    assert.ok(alive(pid));
    assert.ok(fs.statSync(path.join(b.stateDir, 'exec.fifo')).isFIFO());
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!fs.existsSync(marker), 'nothing ran before start');
    // As runc: the final identity (caps, user, no_new_privs) is in place before `created` is reported,
    // so a refused capability fails create rather than start.
    assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /NoNewPrivs:\t1/, 'privileges dropped before start');
    await startContainerProcess(b.stateDir);
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    assert.ok(fs.existsSync(marker));
    const err = await startContainerProcess(b.stateDir).then(() => undefined, (e) => e);
    assert.ok(isBerthError(err, 'FAILED_PRECONDITION'), String(err));
  });

  test('a capability the kernel refuses fails create, not start (as runc)', async () => {
    const bnd = BigInt('0x' + /CapBnd:\t([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
    if (bnd & (1n << 24n)) return skip('capability refusal', 'this host grants CAP_SYS_RESOURCE, so no capability is refused');
    const b = bundle();
    const caps = ['CAP_CHOWN', 'CAP_SYS_RESOURCE'];
    const err = await createContainerProcess({
      bundle: b.bundle, stateDir: b.stateDir, spec: sh('true', (s) => { s.process!.capabilities = { bounding: caps, effective: caps, permitted: caps }; }),
      onPid: async (p) => { track(p); }, hookState: () => '{}',
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof Error, 'create must fail');
    assert.match(String(err.message), /capset|capabilit/);
    assert.equal(hostMountsUnder(b.dir), []);
  });

  test('createContainer and startContainer hooks run in the container namespaces with the state on stdin', async () => {
    const b = bundle();
    const log = path.join(b.dir, 'hooks.log');
    const hook = path.join(b.dir, 'hook.sh');
    fs.writeFileSync(hook, `#!/bin/sh\n{ echo "$1 uts=$(readlink /proc/self/ns/uts) host=$(hostname)"; cat; echo; } >> ${log}\n`, { mode: 0o755 });
    // startContainer runs after pivot_root: its path resolves inside the container.
    fs.copyFileSync(hook, path.join(b.rootfs, 'hook.sh'));
    fs.chmodSync(path.join(b.rootfs, 'hook.sh'), 0o755);
    fs.mkdirSync(path.join(b.rootfs, b.dir), { recursive: true });
    const spec = sh('true', (s) => {
      s.hooks = { createContainer: [{ path: hook, args: ['hook.sh', 'createContainer'] }], startContainer: [{ path: '/hook.sh', args: ['hook.sh', 'startContainer'] }] };
      s.mounts!.push({ destination: b.dir, type: 'bind', source: b.dir, options: ['bind'] });
    });
    await runContainer(b, spec);
    const out = fs.readFileSync(log, 'utf8');
    // runc's order: createContainer hooks run before sethostname, startContainer ones after.
    assert.match(out, /^createContainer uts=\S+ host=\S+\n\{.*"status":"creating".*"pid":\d+/m);
    assert.match(out, /^startContainer uts=\S+ host=berth\n\{/m);
    assert.ok(!out.includes(nsInode('uts')));
  });

  test('the process starts with default signal dispositions and an empty mask, even after hooks ran', async () => {
    const b = bundle();
    // cat, not sh: busybox ash ignores SIGQUIT itself and would pass that on when it execs.
    const spec = defaultSpec(['/bin/cat', '/proc/self/status']);
    spec.hooks = { startContainer: [{ path: '/bin/true' }] };
    const r = await runContainer(b, spec);
    assert.match(r.out, /SigBlk:\t0000000000000000/);
    assert.match(r.out, /SigIgn:\t0000000000000000/);
  });

  test('a failing createContainer hook is reported by path and status', async () => {
    const b = bundle();
    const err = await runContainer(b, sh('true', (s) => { s.hooks = { createContainer: [{ path: '/bin/false' }] }; })).then(() => undefined, (e) => e);
    assert.is(err?.message, 'berth-init: createContainer hook /bin/false: exit status 1');
  });

  test('no-pivot: MS_MOVE + chroot', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('ls /; cat /etc/passwd | head -1'), { noPivot: true });
    assert.match(r.out, /^bin$/m);
    assert.match(r.out, /^root:x:0:0/m);
  });

  test('only stdio and preserved fds reach the process', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('ls /proc/self/fd'));
    // ls itself holds one fd for the directory it lists
    assert.equal(r.out.trim().split('\n').map(Number).filter((n) => n !== 3), [0, 1, 2]);
  });

  test('terminal: the pty master goes to the console socket; stdio is the pty', async () => {
    const b = bundle();
    const con = await consoleServer(b.dir);
    try {
      const r = await runContainer(b, sh('tty; stty size; echo via-pty', (s) => { s.process!.terminal = true; s.process!.consoleSize = { height: 33, width: 101 }; }), { consoleSocket: con.socket });
      assert.is(r.out, '', 'nothing on the plain stdio');
      const out = await con.output();
      assert.match(out, /\/dev\/pts\/0/);
      assert.match(out, /33 101/);
      assert.match(out, /via-pty/);
    } finally { con.close(); }
  });

  test('seccomp: an installed filter denies mkdir with EPERM', async () => {
    const b = bundle();
    // ld [arch]; jeq x86_64 ? next : allow; ld [nr]; jeq mkdir -> errno; jeq mkdirat -> errno; allow; errno(EPERM)
    const ins: Array<[number, number, number, number]> = [
      [0x20, 0, 0, 4], [0x15, 0, 4, 0xc000003e], [0x20, 0, 0, 0], [0x15, 2, 0, 83], [0x15, 1, 0, 258],
      [0x06, 0, 0, 0x7fff0000], [0x06, 0, 0, 0x00050001],
    ];
    const filter = Buffer.alloc(ins.length * 8);
    ins.forEach(([code, jt, jf, k], i) => { filter.writeUInt16LE(code, i * 8); filter[i * 8 + 2] = jt; filter[i * 8 + 3] = jf; filter.writeUInt32LE(k >>> 0, i * 8 + 4); });
    const r = await runContainer(b, sh('mkdir /tmp/d 2>&1; echo rc=$?; grep Seccomp: /proc/self/status'), { seccomp: { filter, flags: 0 } });
    assert.match(r.out, /Operation not permitted/);
    assert.match(r.out, /rc=1/);
    assert.match(r.out, /Seccomp:\t2/);
  });

  test('seccomp without no_new_privs may deny getcwd: init checks the cwd before installing it', async () => {
    const b = bundle();
    // ld [arch]; jeq x86_64 ? next : allow; ld [nr]; jeq getcwd(79) -> errno; allow; errno(EPERM)
    const ins: Array<[number, number, number, number]> = [
      [0x20, 0, 0, 4], [0x15, 0, 3, 0xc000003e], [0x20, 0, 0, 0], [0x15, 1, 0, 79],
      [0x06, 0, 0, 0x7fff0000], [0x06, 0, 0, 0x00050001],
    ];
    const filter = Buffer.alloc(ins.length * 8);
    ins.forEach(([code, jt, jf, k], i) => { filter.writeUInt16LE(code, i * 8); filter[i * 8 + 2] = jt; filter[i * 8 + 3] = jf; filter.writeUInt32LE(k >>> 0, i * 8 + 4); });
    const r = await runContainer(b, sh('echo ran', (s) => { s.process!.noNewPrivileges = false; }), { seccomp: { filter, flags: 0 } });
    assert.match(r.out, /ran/);
  });

  test('sysctl, oom_score_adj, domainname', async () => {
    const b = bundle();
    const hostForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const r = await runContainer(b, sh('cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj /proc/sys/kernel/domainname', (s) => {
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      s.process!.oomScoreAdj = 500;
      s.domainname = 'example.org';
    }));
    assert.equal(r.out.trim().split('\n'), ['1', '500', 'example.org']);
    assert.is(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostForward, 'host sysctl untouched');
  });


  for (const cgroupns of [false, true]) {
    test(`cgroup mount ${cgroupns ? 'in a cgroup namespace' : 'without a cgroup namespace'}: every host hierarchy, read-only, our own cgroup`, async () => {
      const b = bundle();
      const hostNames = fs.readdirSync('/sys/fs/cgroup').sort();
      const procs = fs.existsSync('/sys/fs/cgroup/memory') ? 'memory/cgroup.procs' : 'cgroup.procs';
      const r = await runContainer(b, sh(`ls /sys/fs/cgroup; echo --; cat /sys/fs/cgroup/${procs}; echo --; grep " /sys/fs/cgroup" /proc/self/mountinfo | awk '{print $6}' | cut -d, -f1 | sort -u`, (s) => {
        s.mounts!.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
        if (cgroupns) s.linux!.namespaces!.push({ type: 'cgroup' });
      }));
      const [names, pids, modes] = r.out.split('--\n').map((x) => x.trim().split('\n'));
      assert.equal(names.sort(), hostNames);
      assert.ok(pids.includes('1'), `our init is in the cgroup we see: ${pids}`);
      assert.equal(modes, ['ro']);
    });
  }

  test('/proc/1/exe (berth-init while created) is neither readable nor writable from an exec', async () => {
    const b = bundle();
    const bin = path.join(REPO, 'native/build/berth-init');
    const before = fs.readFileSync(bin);
    const nul = fs.openSync('/dev/null', 'r+');
    const spec = sh('true');
    const { pid } = await createContainerProcess({ bundle: b.bundle, stateDir: b.stateDir, stdio: [nul, nul, nul], spec, onPid: async () => {}, hookState: () => '{}' });
    track(pid);
    try {
      const outFile = path.join(b.dir, 'exe-probe');
      const fd = fs.openSync(outFile, 'w');
      const h = await execProcess({
        containerPid: pid, spec, detach: false, stdio: [nul, fd, fd], onPid: async () => {},
        process: { ...spec.process!, args: ['/bin/sh', '-c', 'head -c1 /proc/1/exe >/dev/null 2>&1 && echo READABLE; (echo x >> /proc/1/exe) 2>/dev/null && echo WRITABLE; for f in /proc/1/fd/*; do ls $f/ >/dev/null 2>&1 && echo FOLLOWED $f; done; ls /proc/1/fd | wc -l; echo done'] },
      });
      assert.is(await h.wait(), 0);
      fs.closeSync(fd);
      fs.closeSync(nul);
      // The init holds fds (its stdio, the fifo, host /proc/self/fd) that no container process may follow.
      const [n, last] = fs.readFileSync(outFile, 'utf8').trim().split('\n');
      assert.ok(Number(n) >= 4, `init holds its fds (${n})`);
      assert.is(last, 'done', fs.readFileSync(outFile, 'utf8'));
      assert.ok(before.equals(fs.readFileSync(bin)), 'berth-init binary unchanged');
      await startContainerProcess(b.stateDir);
      await waitGone(pid);
    } finally {
      if (alive(pid)) { process.kill(pid, 'SIGKILL'); await waitGone(pid); }
    }
  });

  test('a missing executable fails create (as runc), with the path in the error', async () => {
    for (const [args, msg, code] of [
      [['/no/such/binary'], 'berth-init: exec /no/such/binary: No such file or directory', 'NOT_FOUND'],
      [['nosuch'], 'berth-init: exec nosuch: executable file not found in $PATH', 'NOT_FOUND'],
      [['/etc'], 'berth-init: exec /etc: Permission denied', 'PERMISSION_DENIED'],
    ] as const) {
      const b = bundle();
      let pid = 0;
      const err = await createContainerProcess({
        bundle: b.bundle, stateDir: b.stateDir, stdio: [0, 1, 2], spec: defaultSpec([...args]),
        onPid: async (p) => { pid = p; }, hookState: () => '{}',
      }).then(() => undefined, (e) => e);
      assert.ok(isBerthError(err, code), String(err));
      assert.is(err.message, msg);
      assert.ok(pid > 0 && !alive(pid));
    }
    const b = bundle();
    const r = await runContainer(b, sh('cd /bin && ./echo relative-ok', (s) => { s.process!.cwd = '/bin'; s.process!.args = ['./echo', 'relative-ok']; }));
    assert.match(r.out, /^relative-ok$/m);
  });

  test('personality LINUX32', async () => {
    const b = bundle();
    const r = await runContainer(b, sh('uname -m', (s) => { s.linux!.personality = { domain: 'LINUX32' }; }));
    assert.match(r.out, /^i686$/m);
  });

  test('timing: create + start of /bin/true', async () => {
    const b = bundle();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await runContainer(b, defaultSpec(['/bin/true']));
      times.push(r.createMs + r.startMs);
    }
    times.sort((a, c) => a - c);
    console.log(`create+start /bin/true: median ${times[2].toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[4].toFixed(1)})`);
  });
}

test.run();
