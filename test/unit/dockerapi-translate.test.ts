// The Docker API's pure translations: Config+HostConfig -> CreateRequest, version prefixes,
// error codes -> HTTP statuses, and the status text `docker ps` shows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toCreateRequest } from '../../dockerapi/container-create.js';
import { splitVersion } from '../../dockerapi/server.js';
import { statusOf } from '../../dockerapi/errors.js';
import { humanDuration } from '../../dockerapi/container-view.js';
import { BerthError } from '../../lib/errors.js';

test('create: Config and HostConfig fields map onto the container service request', () => {
  const r = toCreateRequest({
    Image: 'busybox', Cmd: ['echo', 'hi'], Entrypoint: [''], Env: ['A=1'], WorkingDir: '/w', User: '1000:1000', Tty: true, OpenStdin: true,
    Labels: { a: 'b' }, StopSignal: 'SIGINT', StopTimeout: 3,
    HostConfig: {
      Binds: ['/tmp:/h:ro', 'vol:/data'], Tmpfs: { '/run/x': 'size=1m' },
      Mounts: [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 4096, Mode: 0o1777 } }, { Type: 'volume', Source: 'v2', Target: '/v2', ReadOnly: true }],
      Memory: 64 << 20, MemorySwap: -1, NanoCpus: 1_500_000_000, PidsLimit: 0, ReadonlyRootfs: true, CapAdd: ['NET_ADMIN'], CapDrop: ['ALL'],
      NetworkMode: 'host', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 }, SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
    },
  }, 'n1');
  assert.is(r.image, 'busybox');
  assert.is(r.name, 'n1');
  assert.is(r.pull, 'never');
  assert.equal(r.command, ['echo', 'hi']);
  assert.equal(r.entrypoint, []);
  assert.equal(r.binds, [{ source: '/tmp', destination: '/h', readonly: true }]);
  assert.equal(r.volumes, [{ name: 'vol', destination: '/data', readonly: false }, { name: 'v2', destination: '/v2', readonly: true }]);
  assert.equal(r.tmpfs?.map((t) => t.destination), ['/t', '/run/x']);
  assert.ok(r.tmpfs?.[0].options?.includes('size=4096'));
  assert.ok(r.tmpfs?.[0].options?.includes('mode=1777'));
  assert.is(r.memory, 64 << 20);
  assert.is(r.memorySwap, -1);
  assert.is(r.cpus, 1.5);
  assert.is(r.pidsLimit, undefined);
  assert.is(r.network, 'host');
  // the docker CLI's default network mode is a bridge network, as with dockerd; none is loopback only
  for (const NetworkMode of [undefined, 'default', 'bridge']) assert.is(toCreateRequest({ Image: 'x', HostConfig: { NetworkMode } }, undefined).network, 'bridge');
  assert.is(toCreateRequest({ Image: 'x', HostConfig: { NetworkMode: 'none' } }, undefined).network, 'none');
  assert.is(r.restartPolicy, 'on-failure');
  assert.is(r.seccompProfile, 'unconfined');
  assert.is(r.noNewPrivileges, true);
  assert.is(r.tty, true);
  assert.is(r.stdin, true);
  assert.is(r.stopTimeout, 3);
});

test('create: bad or unsupported requests are 400s that say why', () => {
  const bad = (body: Parameters<typeof toCreateRequest>[0], re: RegExp) => {
    try { toCreateRequest(body, undefined); } catch (e) {
      assert.instance(e, BerthError);
      assert.is((e as BerthError).code, 'INVALID_ARGUMENT');
      assert.match((e as Error).message, re);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(body)}`);
  };
  bad({}, /Image is required/);
  bad({ Image: 'x', HostConfig: { Binds: ['/a'] } }, /source:destination/);
  bad({ Image: 'x', HostConfig: { Binds: ['/a:/b:bogus'] } }, /bind option "bogus"/);
  bad({ Image: 'x', HostConfig: { NetworkMode: 'container:abc' } }, /network mode/);
  bad({ Image: 'x', HostConfig: { NetworkMode: 'none', PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } }, /publishing ports needs the bridge network, not none/);
  bad({ Image: 'x', HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } }, /--restart and --rm/);
  bad({ Image: 'x', HostConfig: { SecurityOpt: ['apparmor=foo'] } }, /security option/);
});

test('version prefixes: stripped; too new and too old are refused', () => {
  assert.equal(splitVersion('/v1.41/containers/json'), { path: '/containers/json', version: '1.41' });
  assert.equal(splitVersion('/_ping'), { path: '/_ping' });
  assert.throws(() => splitVersion('/v1.99/info'), /too new/);
  assert.throws(() => splitVersion('/v1.12/info'), /too old/);
});

test('error codes map to Docker\'s HTTP statuses', () => {
  assert.is(statusOf(new BerthError('NOT_FOUND', 'x')), 404);
  assert.is(statusOf(new BerthError('ALREADY_EXISTS', 'x')), 409);
  assert.is(statusOf(new BerthError('FAILED_PRECONDITION', 'x')), 409);
  assert.is(statusOf(new BerthError('INVALID_ARGUMENT', 'x')), 400);
  assert.is(statusOf(new Error('x')), 500);
});

test('status durations read like docker ps', () => {
  assert.is(humanDuration(300), 'Less than a second');
  assert.is(humanDuration(5_000), '5 seconds');
  assert.is(humanDuration(65_000), 'About a minute');
  assert.is(humanDuration(10 * 60_000), '10 minutes');
  assert.is(humanDuration(3 * 3600_000), '3 hours');
});

test.run();
