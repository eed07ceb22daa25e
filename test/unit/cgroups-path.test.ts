import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveCgroupPath, parseMountinfo, v1Paths, dirInMount } from '../../runtime/cgroups/cgroup-path.js';
import { detectCgroupMode } from '../../runtime/cgroups/detect.js';
import { isBerthError } from '../../lib/errors.js';

const throwsCode = (fn: () => unknown, code: string, re?: RegExp) => {
  try { fn(); } catch (e) {
    assert.ok(isBerthError(e), `not a BerthError: ${e}`);
    assert.is((e as { code: string }).code, code);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('did not throw');
};

test('empty cgroupsPath goes to /berth/<id>', () => {
  assert.is(resolveCgroupPath(undefined, 'c1'), '/berth/c1');
  assert.is(resolveCgroupPath('', 'c1'), '/berth/c1');
});

test('absolute paths are relative to each hierarchy root, normalised, never escaping', () => {
  assert.is(resolveCgroupPath('/a/b', 'x'), '/a/b');
  assert.is(resolveCgroupPath('/a//b/./c/', 'x'), '/a/b/c');
  assert.is(resolveCgroupPath('/../../etc', 'x'), '/etc');
  throwsCode(() => resolveCgroupPath('/', 'x'), 'INVALID_ARGUMENT', /root cgroup/);
  throwsCode(() => resolveCgroupPath('/a/..', 'x'), 'INVALID_ARGUMENT', /root cgroup/);
});

test('relative paths go under /berth, not under our own cgroup', () => {
  assert.is(resolveCgroupPath('pod1/c1', 'c1'), '/berth/pod1/c1');
  throwsCode(() => resolveCgroupPath('../x', 'c1'), 'INVALID_ARGUMENT', /escapes/);
  throwsCode(() => resolveCgroupPath('a/../../x', 'c1'), 'INVALID_ARGUMENT', /escapes/);
});

test('systemd slice:prefix:name is refused clearly', () => {
  throwsCode(() => resolveCgroupPath('system.slice:berth:c1', 'c1'), 'INVALID_ARGUMENT', /systemd cgroup driver is not supported/);
});

test('bad ids are refused', () => {
  throwsCode(() => resolveCgroupPath('', '../x'), 'INVALID_ARGUMENT');
  throwsCode(() => resolveCgroupPath('', 'a/b'), 'INVALID_ARGUMENT');
});

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /proc rw - proc proc rw`;

test('mountinfo: co-mounted, named and unified hierarchies', () => {
  const mounts = parseMountinfo(HYBRID);
  assert.is(mounts.length, 4);
  assert.equal(mounts[0]!.controllers, ['cpu', 'cpuacct']);
  assert.is(detectCgroupMode(mounts), 'hybrid');
  const p = v1Paths('/berth/c1', mounts);
  assert.equal(p, {
    cpu: '/sys/fs/cgroup/cpu,cpuacct/berth/c1', cpuacct: '/sys/fs/cgroup/cpu,cpuacct/berth/c1',
    memory: '/sys/fs/cgroup/memory/berth/c1', 'name=systemd': '/sys/fs/cgroup/systemd/berth/c1',
    unified: '/sys/fs/cgroup/unified/berth/c1',
  });
});

test('mode detection: pure v2 and pure v1', () => {
  assert.is(detectCgroupMode(parseMountinfo('30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate')), 'v2');
  assert.is(detectCgroupMode(parseMountinfo('35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory')), 'v1');
});

test('a mount whose root is not / (inside a container) maps paths below it only', () => {
  const [m] = parseMountinfo('35 31 0:32 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory');
  assert.is(dirInMount(m!, '/outer/berth/c1'), '/sys/fs/cgroup/memory/berth/c1');
  throwsCode(() => dirInMount(m!, '/elsewhere/c1'), 'FAILED_PRECONDITION');
});

test.run();
