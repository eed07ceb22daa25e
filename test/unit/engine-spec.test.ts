import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { buildSpec, computeCapabilities, mergeEnv } from '../../engine/build-spec.js';
import { resolveUser } from '../../engine/resolve-user.js';
import { validateSpec } from '../../runtime/spec/config-schema.js';
import { tmpDir } from '../lib/harness.js';

const ALL = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN'];

function rootfs(): string {
  const d = tmpDir();
  fs.mkdirSync(path.join(d, 'etc'));
  fs.writeFileSync(path.join(d, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:web:/var/www:/bin/false\n');
  fs.writeFileSync(path.join(d, 'etc/group'), 'root:x:0:\nweb:x:33:\naudio:x:29:web\nvideo:x:44:web,other\n');
  return d;
}

test('resolveUser: names, numbers, groups, supplementary groups', () => {
  const r = rootfs();
  assert.equal(resolveUser(r, 'web'), { uid: 33, gid: 33, additionalGids: [29, 44], home: '/var/www' });
  assert.equal(resolveUser(r, '1234'), { uid: 1234, gid: 0, additionalGids: [], home: '/' });
  assert.equal(resolveUser(r, 'web:audio'), { uid: 33, gid: 29, additionalGids: [], home: '/var/www' });
  assert.equal(resolveUser(r, undefined).uid, 0);
  assert.throws(() => resolveUser(r, 'nobody'), /unable to find user nobody/);
  assert.throws(() => resolveUser(r, '4294967295'), /out of range/);
  fs.rmSync(r, { recursive: true });
});

test('resolveUser never reads a host file through a symlinked /etc/passwd', () => {
  const r = tmpDir();
  fs.mkdirSync(path.join(r, 'etc'));
  const host = tmpDir();
  fs.writeFileSync(path.join(host, 'passwd'), 'hostuser:x:4242:4242::/h:/bin/sh\n');
  fs.symlinkSync(path.join(host, 'passwd'), path.join(r, 'etc/passwd'));
  assert.throws(() => resolveUser(r, 'hostuser'), /unable to find user hostuser/);
  fs.rmSync(r, { recursive: true }); fs.rmSync(host, { recursive: true });
});

test('mergeEnv: later wins, keys without = are dropped', () => {
  assert.equal(mergeEnv(['A=1', 'B=2'], ['A=3', 'C']), ['A=3', 'B=2']);
});

test('computeCapabilities: docker default set, add, drop, ALL, privileged', () => {
  const d = computeCapabilities({}, ALL);
  assert.is(d.length, 14);
  assert.not.ok(d.includes('CAP_SYS_ADMIN'));
  const x = computeCapabilities({ capAdd: ['sys_admin'], capDrop: ['NET_RAW'] }, ALL);
  assert.ok(x.includes('CAP_SYS_ADMIN'));
  assert.not.ok(x.includes('CAP_NET_RAW'));
  assert.equal(computeCapabilities({ capDrop: ['ALL'], capAdd: ['CHOWN'] }, ALL), ['CAP_CHOWN']);
  assert.equal(computeCapabilities({ privileged: true }, ALL), ALL);
  assert.throws(() => computeCapabilities({ capAdd: ['BOGUS'] }, ALL), /unknown capability CAP_BOGUS/);
});

test('buildSpec: image config + options -> a valid runtime spec', () => {
  const r = rootfs();
  const spec = buildSpec(
    { entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi'], env: ['PATH=/bin', 'FOO=img'], workingDir: '/srv', user: 'web' },
    { id: 'abcdef0123456789', rootfs: r, containerDir: '/var/lib/berth/containers/x', env: ['FOO=cli'], memory: 64 << 20, cpus: 0.5, pidsLimit: 20, readonlyRootfs: true,
      binds: [{ source: '/data', destination: '/mnt/data', readonly: true }], network: 'none' },
    ALL,
  );
  validateSpec(spec);
  assert.equal(spec.process!.args, ['/bin/sh', '-c', 'echo hi']);
  assert.ok(spec.process!.env!.includes('FOO=cli'));
  assert.ok(spec.process!.env!.includes('HOME=/var/www'));
  assert.is(spec.process!.cwd, '/srv');
  assert.is(spec.process!.user.uid, 33);
  assert.is(spec.root!.readonly, true);
  assert.is(spec.hostname, 'abcdef012345');
  const res = spec.linux!.resources as any;
  assert.equal(res.memory, { limit: 64 << 20 });
  assert.equal(res.cpu, { quota: 50000, period: 100000 });
  assert.equal(res.pids, { limit: 20 });
  const data = spec.mounts!.find((m) => m.destination === '/mnt/data')!;
  assert.ok(data.options!.includes('ro'));
  assert.ok(spec.linux!.namespaces!.some((n) => n.type === 'network'));
  assert.ok(spec.linux!.maskedPaths!.includes('/proc/kcore'));
  // entrypoint override clears the image Cmd, as docker does
  const s2 = buildSpec({ entrypoint: ['/a'], cmd: ['b'] }, { id: 'x', rootfs: r, containerDir: '/c', entrypoint: ['/bin/echo'] }, ALL);
  assert.equal(s2.process!.args, ['/bin/echo']);
  assert.throws(() => buildSpec({}, { id: 'x', rootfs: r, containerDir: '/c' }, ALL), /no command specified/);
  assert.throws(() => buildSpec({ cmd: ['x'] }, { id: 'x', rootfs: r, containerDir: '/c', workdir: 'rel' }, ALL), /must be an absolute path/);
  fs.rmSync(r, { recursive: true });
});

test.run();
