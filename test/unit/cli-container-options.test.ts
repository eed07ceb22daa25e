// The container commands' option handling without containers: docker's 125/126/127 mapping of
// both runtimes' exec failures, size parsing, volume/tmpfs/env translation, and rejected options.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { parseBytes, parsePublish, toCreateRequest, withCommandExitCode, exitCodeOf, type CreateOpts } from '../../cli/commands/container-common.js';
import { BerthError } from '../../lib/errors.js';
import { tmpDir } from '../lib/harness.js';

const code = (msg: string) => (withCommandExitCode(new BerthError('NOT_FOUND', msg)) as { exitCode?: number }).exitCode;

test('exec failures map to 127 (not found) and 126 (not executable) for berth-runtime and runc texts', () => {
  assert.is(code('berth-runtime create failed: berth-init: exec nosuch: executable file not found in $PATH'), 127);
  assert.is(code('berth-runtime create failed: berth-init: exec /no/such: No such file or directory'), 127);
  assert.is(code('berth-runtime create failed: berth-init: exec /etc/passwd: Permission denied'), 126);
  assert.is(code('runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH'), 127);
  assert.is(code('runc create failed: unable to start container process: exec: "/etc/passwd": permission denied'), 126);
  // berth's own failures stay 125 (no exitCode set: report-error gives 125)
  assert.is(code('image localhost/x is not known locally'), undefined);
  assert.is(code('cgroup: permission denied writing memory.limit_in_bytes'), undefined);
  // runc's logrus text quotes the path with backslashes
  assert.is(code('runc create failed: time="x" level=error msg="runc create failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH"'), 127);
  assert.is(code('berth-monitor: exec /opt/missing/berth-runtime: No such file or directory'), undefined);
  assert.is(code('crun: executable file `nosuch` not found in $PATH: No such file or directory'), 127);
});

test('exit codes: a signal is 128+n', () => {
  assert.is(exitCodeOf({ exitCode: 3, signal: null, exitedAt: '', reason: 'exited' }), 3);
  assert.is(exitCodeOf({ exitCode: 0, signal: 9, exitedAt: '', reason: 'signaled' }), 137);
});

test('sizes', () => {
  assert.is(parseBytes('64m', '-m'), 64 * 1024 * 1024);
  assert.is(parseBytes('1g', '-m'), 1024 ** 3);
  assert.is(parseBytes('512k', '-m'), 512 * 1024);
  assert.is(parseBytes('100', '-m'), 100);
  assert.is(parseBytes('-1', '--memory-swap'), -1);
  assert.is(parseBytes(undefined, '-m'), undefined);
  assert.throws(() => parseBytes('lots', '--memory'), /--memory/);
});

test('-p parses docker\'s [ip:]host:container[/proto] and needs bridge', () => {
  assert.equal(parsePublish('8080:80'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  assert.equal(parsePublish('127.0.0.1:5353:53/udp'), { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' });
  assert.throws(() => parsePublish('80'), /must be \[ip:\]hostPort:containerPort/);
  assert.throws(() => parsePublish('0:80'), /ports must be 1-65535/);
  assert.throws(() => toCreateRequest(G, 'img', [], opts({ network: 'bridged' })), /must be none, host or bridge/);
});

function opts(o: Partial<CreateOpts> = {}): CreateOpts {
  return { env: [], envFile: [], volume: [], tmpfs: [], groupAdd: [], capAdd: [], capDrop: [], securityOpt: [], sysctl: [], label: [], network: 'none', publish: [], restart: 'no', pull: 'missing', ...o };
}
const G = { root: '/tmp/r', state: '/tmp/s', debug: false };

test('volumes, tmpfs, env, labels become a create request', () => {
  const d = tmpDir();
  const envFile = path.join(d, 'env');
  fs.writeFileSync(envFile, '# comment\nFROM_FILE=1\n\n');
  process.env.BERTH_TEST_PASS = 'passed';
  const r = toCreateRequest(G, 'img', ['sh'], opts({
    volume: [`${d}:/h:ro`, 'data:/d'], tmpfs: ['/t:size=1m,mode=1777', '/u'], env: ['A=1', 'BERTH_TEST_PASS', 'UNSET_VAR_XYZ'], envFile: [envFile],
    label: ['a=b=c'], memory: '32m', pidsLimit: '10', securityOpt: ['no-new-privileges'],
  }), true);
  assert.equal(r.binds, [{ source: fs.realpathSync(d), destination: '/h', readonly: true }]);
  assert.equal(r.volumes, [{ name: 'data', destination: '/d', readonly: false }]);
  assert.equal(r.tmpfs, [{ destination: '/t', options: ['size=1m', 'mode=1777'] }, { destination: '/u' }]);
  assert.equal(r.env, ['FROM_FILE=1', 'A=1', 'BERTH_TEST_PASS=passed']);
  assert.equal(r.labels, { a: 'b=c' });
  assert.is(r.memory, 32 * 1024 * 1024);
  assert.is(r.pidsLimit, 10);
  assert.is(r.noNewPrivileges, true);
  assert.equal(r.command, ['sh']);
  fs.rmSync(d, { recursive: true });
});

test('--rootfs takes the first argument as the command', () => {
  const r = toCreateRequest(G, 'sh', ['-c', 'true'], opts({ rootfs: '/tmp/x' }), true);
  assert.is(r.image, undefined);
  assert.is(r.rootfsDir, '/tmp/x');
  assert.equal(r.command, ['sh', '-c', 'true']);
});

test('bad options are refused with the option named', () => {
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ volume: ['a:b:c:d'] }), true), /volume/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ volume: ['/tmp:/x:rx'] }), true), /ro or rw/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ network: 'overlay' }), true), /--network/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ restart: 'sometimes' }), true), /--restart/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ pull: 'maybe' }), true), /--pull/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ cpus: '0' }), true), /--cpus/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ pidsLimit: 'x' }), true), /--pids-limit/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ securityOpt: ['apparmor=x'] }), true), /security-opt/);
  assert.throws(() => toCreateRequest(G, 'i', [], opts({ label: ['novalue'] }), true), /--label/);
});

test.run();
