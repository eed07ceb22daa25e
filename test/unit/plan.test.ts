// spec -> launch plan, without root: capability masks, mount options, validation errors, encoding.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { capabilityMask, capabilityNames, capabilityNumber } from '../../runtime/caps.js';
import { parseMountOptions, MS } from '../../runtime/plan/mount-options.js';
import { validateSpec, validateProcess, type Spec } from '../../runtime/spec/config-schema.js';
import { buildCreatePlan, buildExecPlan, CLONE } from '../../runtime/plan/build.js';
import { decodePlan, Tag, PlanWriter } from '../../runtime/plan/encode.js';
import { isBerthError } from '../../lib/errors.js';

function spec(mod: (s: any) => void = () => {}): Spec {
  const s: any = {
    ociVersion: '1.2.0',
    process: { user: { uid: 0, gid: 0 }, args: ['/bin/sh'], cwd: '/', env: ['A=1'] },
    root: { path: 'rootfs' },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }] },
  };
  mod(s);
  return validateSpec(s);
}
const opts = { bundle: '/b', stateDir: '/run/x' };
const records = (buf: Buffer, name: keyof typeof Tag) => decodePlan(buf).filter((r) => r.name === name);
const throwsMsg = (fn: () => unknown): string => { try { fn(); } catch (e) { assert.ok(isBerthError(e, 'INVALID_ARGUMENT'), String(e)); return (e as Error).message; } throw new Error('did not throw'); };

test('capability masks: bit numbers, with or without the CAP_ prefix, unknown names name the path', () => {
  assert.is(capabilityNumber('CAP_CHOWN'), 0);
  assert.is(capabilityNumber('net_raw'), 13);
  assert.is(capabilityNumber('CAP_CHECKPOINT_RESTORE'), 40);
  assert.is(capabilityMask(['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE'], 'x'), 0x20000420n);
  assert.is(capabilityMask(['CAP_SYS_ADMIN', 'CAP_BPF'], 'x'), (1n << 21n) | (1n << 39n));
  assert.equal(capabilityNames(0x20000420n), ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE']);
  assert.is(throwsMsg(() => capabilityMask(['CAP_KILL', 'CAP_BOGUS'], '/process/capabilities/bounding')), '/process/capabilities/bounding/1: unknown capability "CAP_BOGUS"');
});

test('mount options: flags set and cleared, propagation, data, unsupported options', () => {
  const o = parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro', 'mode=755', 'size=65536k', 'rslave']);
  assert.is(o.flags, MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY);
  assert.equal(o.propagation, [MS.SLAVE | MS.REC]);
  assert.is(o.data, 'mode=755,size=65536k');
  assert.is(parseMountOptions(['ro', 'rw']).flags, 0);
  assert.is(parseMountOptions(['rbind']).flags, MS.BIND | MS.REC);
  assert.is(parseMountOptions(['strictatime', 'nosuid', 'suid']).flags, MS.STRICTATIME);
  assert.is(throwsMsg(() => parseMountOptions(['rro'], '/mounts/2')), '/mounts/2: mount option "rro" is not supported by berth');
});

test('validateSpec: errors name the JSON path and what was expected; extensions are tolerated', () => {
  const ok = validateSpec({ ociVersion: '1.2.0', future: { x: 1 }, process: { user: { uid: 0, gid: 0 }, cwd: '/', args: ['a'], vendorThing: true } });
  assert.equal(ok.process?.args, ['a']);
  assert.is(throwsMsg(() => validateSpec({})), 'config.json: /ociVersion is required');
  assert.is(throwsMsg(() => validateSpec({ ociVersion: '1', process: { cwd: '/', user: { uid: 'root', gid: 0 } } })), 'config.json: /process/user/uid must be integer');
  assert.is(throwsMsg(() => validateSpec({ ociVersion: '1', linux: { namespaces: [{ type: 'pid' }, { type: 'bogus' }] } })),
    'config.json: /linux/namespaces/1/type must be one of "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"');
  assert.is(throwsMsg(() => validateSpec({ ociVersion: '1', mounts: [{ source: 'x' }] })), 'config.json: /mounts/0/destination is required');
  assert.is(throwsMsg(() => validateProcess({ cwd: '/', user: { uid: 0, gid: 0 }, args: [] })), 'process.json: /args must NOT have fewer than 1 items');
  assert.is(throwsMsg(() => validateProcess({ cwd: '/', user: { uid: 0, gid: 0 }, rlimits: [{ type: 'NOFILE', soft: 1, hard: 1 }] })), 'process.json: /rlimits/0/type must match pattern "^RLIMIT_[A-Z]+$"');
});

test('create plan: namespaces become clone flags, paths become setns, cgroup unshared after go', () => {
  const p = buildCreatePlan(spec((s) => {
    s.linux.namespaces.push({ type: 'network', path: '/run/netns/x' }, { type: 'cgroup' }, { type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 10 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 2000, size: 10 }, { containerID: 10, hostID: 5000, size: 1 }];
  }), opts);
  const flags = records(p, 'CLONE_FLAGS')[0].payload.readBigUInt64LE(0);
  assert.is(flags, BigInt(CLONE.NEWPID | CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWUSER));
  const setns = records(p, 'SETNS')[0].payload;
  assert.is(setns.readUInt32LE(0), CLONE.NEWNET);
  assert.is(setns.subarray(4).toString(), '/run/netns/x\0');
  assert.is(records(p, 'UNSHARE_CGROUP').length, 1);
  assert.is(records(p, 'UID_MAP')[0].payload.toString(), '0 1000 10\n');
  assert.is(records(p, 'GID_MAP')[0].payload.toString(), '0 2000 10\n10 5000 1\n');
  assert.is(records(p, 'BIND_DEVICES').length, 1, 'mknod is refused in a user namespace: devices are bound');
  assert.is(records(p, 'ROOTFS')[0].payload.toString(), '/b/rootfs');
  assert.is(records(p, 'EXEC_FIFO')[0].payload.toString(), '/run/x/exec.fifo');
});

test('create plan: mount and uts namespaces joined by path (runtime-tools linux_ns_path), hostname set there', () => {
  const p = buildCreatePlan(spec((s) => {
    s.hostname = 'joined';
    s.linux.namespaces = [{ type: 'pid' }, { type: 'mount', path: '/proc/42/ns/mnt' }, { type: 'uts', path: '/proc/42/ns/uts' }];
  }), opts);
  assert.is(records(p, 'CLONE_FLAGS')[0].payload.readBigUInt64LE(0), BigInt(CLONE.NEWPID), 'nothing new but the pid namespace');
  const joined = records(p, 'SETNS').map((r) => [r.payload.readUInt32LE(0), r.payload.subarray(4).toString()]);
  assert.equal(joined, [[CLONE.NEWNS, '/proc/42/ns/mnt\0'], [CLONE.NEWUTS, '/proc/42/ns/uts\0']]);
  assert.is(records(p, 'HOSTNAME')[0].payload.toString(), 'joined');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.domainname = 'd'; s.linux.namespaces = [{ type: 'mount' }]; }), opts)),
    'config.json: /domainname needs a uts namespace in /linux/namespaces');
});

test('create plan: mounts carry flags, propagation, resolved bind sources; process fields encoded', () => {
  const p = buildCreatePlan(spec((s) => {
    s.mounts.push({ destination: '/data', source: 'data', options: ['rbind', 'ro', 'rprivate'] });
    s.process.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], ambient: [] };
    s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }, { type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 }];
    s.process.user = { uid: 5, gid: 6, additionalGids: [7, 8], umask: 18 };
  }), opts);
  const m = records(p, 'MOUNT')[1].payload;
  assert.is(m.readUInt32LE(0), 1, 'bind kind');
  assert.is(m.readUInt32LE(4), 1, 'one propagation flag');
  assert.is(Number(m.readBigUInt64LE(8)), MS.BIND | MS.REC | MS.RDONLY);
  assert.is(Number(m.readBigUInt64LE(16)), MS.PRIVATE | MS.REC);
  assert.equal(m.subarray(24).toString().split('\0'), ['/b/data', '/data', '', '', '']);
  const caps = records(p, 'CAPS')[0].payload;
  assert.equal([0, 8, 16, 24, 32].map((o) => caps.readBigUInt64LE(o)), [32n, 32n, 0n, 32n, 0n]);
  const rl = records(p, 'RLIMIT').map((r) => [r.payload.readUInt32LE(0), r.payload.readBigUInt64LE(4), r.payload.readBigUInt64LE(12)]);
  assert.equal(rl, [[7, 10n, 20n], [4, (1n << 64n) - 1n, (1n << 64n) - 1n]]);
  const u = records(p, 'USER')[0].payload;
  assert.equal([u.readUInt32LE(0), u.readUInt32LE(4)], [5, 6]);
  const g = records(p, 'ADDITIONAL_GIDS')[0].payload;
  assert.equal([g.readUInt32LE(0), g.readUInt32LE(4)], [7, 8]);
  assert.is(records(p, 'UMASK')[0].payload.readUInt32LE(0), 18);
  assert.equal(records(p, 'ARG').map((r) => r.payload.toString()), ['/bin/sh']);
  assert.equal(records(p, 'DEVICE').length, 6, 'the six default devices');
});

test('create plan: semantic errors name the field', () => {
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.linux.namespaces = [{ type: 'pid' }]; }), opts)),
    'config.json: /linux/namespaces must include a mount namespace (berth sets up the rootfs in it)');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.hostname = 'h'; s.linux.namespaces = [{ type: 'mount' }]; }), opts)),
    'config.json: /hostname needs a uts namespace in /linux/namespaces');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.linux.namespaces.push({ type: 'user' }); }), opts)),
    'config.json: /linux/uidMappings and /linux/gidMappings are required with a new user namespace');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.mounts.push({ destination: '/a/../../etc', type: 'tmpfs' }); }), opts)),
    'config.json: /mounts/1/destination must be an absolute path without "..", got "/a/../../etc"');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.mounts.push({ destination: '/x', type: 'bind' }); }), opts)),
    'config.json: /mounts/1/source is required for a bind mount');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2, hard: 1 }]; }), opts)),
    'config.json: /process/rlimits/0: soft limit 2 is above hard limit 1');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.process.terminal = true; }), opts)),
    'config.json: /process/terminal is true: a console socket (--console-socket) is required');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.linux.sysctl = { 'net.ipv4.ip_forward': '1' }; }), opts)),
    'config.json: /linux/sysctl/net.ipv4.ip_forward needs a network namespace');
  assert.is(throwsMsg(() => buildCreatePlan(spec((s) => { s.process.args = ['a\0b']; }), opts)), 'config.json: /process/args contains a NUL byte');
  assert.is(throwsMsg(() => buildCreatePlan(spec(), { ...opts, seccomp: { filter: Buffer.alloc(12), flags: 0 } })),
    'seccomp program is 12 bytes, not a whole number of struct sock_filter');
});

test('exec plan: joins the container init namespaces by /proc path', () => {
  const s = spec();
  const p = buildExecPlan(s, s.process!, { containerPid: 42, detach: true });
  assert.equal(records(p, 'SETNS').map((r) => r.payload.subarray(4).toString()), ['/proc/42/ns/pid\0', '/proc/42/ns/mnt\0', '/proc/42/ns/uts\0']);
  assert.is(records(p, 'JOIN_PID')[0].payload.readUInt32LE(0), 42);
  assert.is(records(p, 'DETACH').length, 1);
});

test('plan encoding: header, record count, truncation detected', () => {
  const w = new PlanWriter().u32(Tag.MODE, 1).str(Tag.CWD, '/');
  const buf = w.finish();
  assert.is(buf.toString('latin1', 0, 8), 'BRTHPLAN');
  assert.is(buf.readUInt32LE(8), 1);
  assert.is(buf.readUInt32LE(12), 2);
  assert.equal(decodePlan(buf).map((r) => r.name), ['MODE', 'CWD']);
  assert.throws(() => decodePlan(buf.subarray(0, buf.length - 1)), /overruns/);
});

test.run();
