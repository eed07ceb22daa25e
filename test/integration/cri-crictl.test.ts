// The real CRI client: crictl (kubernetes-sigs/cri-tools v1.26.1, a Go gRPC client that sends the
// socket path as :authority and speaks SPDY/3.1 for exec) against berth's CRI server.
// crictl is built beside the project (see the CRI notes in the report); without it this file skips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, run, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, type TestRegistry } from '../lib/registry.js';
import { registryWithBusybox, releaseNetnsDir, removeEmptyKubepods, startCriProcess, type CriProcess } from '../lib/cri.js';

const CRICTL = process.env.BERTH_CRICTL ?? '/work/ext/cri-tools/build/crictl';
const ready = isRoot && haveRegistry() && fs.existsSync('/usr/bin/skopeo') && fs.existsSync(CRICTL);
let base = '';
let reg: TestRegistry | undefined;
let ref = '';
let srv: CriProcess | undefined;
let pod = '';
let ctr = '';

function crictl(args: string[], input?: string) {
  const ep = `unix://${srv!.socket}`;
  const r = run(CRICTL, ['--runtime-endpoint', ep, '--image-endpoint', ep, '--timeout', '60s', ...args], { input, timeout: 90_000 });
  return { code: r.status, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}
function ok(args: string[], input?: string): string {
  const r = crictl(args, input);
  assert.is(r.code, 0, `crictl ${args.join(' ')}: ${r.err}`);
  return r.out;
}

test.before(async () => {
  if (!ready) return;
  base = tmpDir('berth-crictl-');
  ({ reg, ref } = await registryWithBusybox());
  srv = await startCriProcess({ root: path.join(base, 'root'), state: path.join(base, 'state'), socket: path.join(base, 'cri.sock'), extra: ['--loopback-only'] });
  fs.writeFileSync(path.join(base, 'pod.json'), JSON.stringify({ metadata: { name: 'cli', namespace: 'default', uid: 'cli-uid', attempt: 1 }, hostname: 'clipod', log_directory: path.join(base, 'logs'), linux: {} }));
  fs.writeFileSync(path.join(base, 'ctr.json'), JSON.stringify({ metadata: { name: 'box' }, image: { image: ref }, command: ['/bin/sh', '-c', 'echo hello from berth; echo oops >&2; exec sleep 600'], log_path: 'box.log', linux: {} }));
});

test.after(async () => {
  if (!ready) return;
  if (srv && srv.child.exitCode === null) {
    for (const p of crictl(['pods', '-q']).out.split('\n').filter(Boolean)) { crictl(['stopp', p]); crictl(['rmp', p]); }
  }
  await srv?.stop();
  await reg?.stop();
  releaseNetnsDir(path.join(base, 'state', 'netns'));
  removeEmptyKubepods();
  fs.rmSync(base, { recursive: true, force: true });
});

test('version, info, pull, images', () => {
  if (!ready) return skip('crictl against berth', `needs root, docker-registry, skopeo and ${CRICTL}`);
  assert.match(ok(['version']), /RuntimeName:\s+berth/);
  assert.match(ok(['info']), /"RuntimeReady"/);
  ok(['pull', ref]);
  assert.match(ok(['images']), /cri\/bb\s+latest/);
});

test('runp, create, start, ps, pods', () => {
  if (!ready) return;
  pod = ok(['runp', path.join(base, 'pod.json')]);
  assert.match(pod, /^[a-f0-9]{64}$/);
  ctr = ok(['create', pod, path.join(base, 'ctr.json'), path.join(base, 'pod.json')]);
  ok(['start', ctr]);
  assert.match(ok(['ps']), /Running\s+box/);
  assert.match(ok(['pods']), /Ready\s+cli\s+default/);
});

test('exec: sync, streamed over SPDY (exit codes, stdin)', () => {
  if (!ready) return;
  assert.is(ok(['exec', '-s', ctr, 'hostname']), 'clipod');
  assert.is(ok(['exec', ctr, 'sh', '-c', 'echo streamed']), 'streamed');
  const r = crictl(['exec', ctr, 'sh', '-c', 'exit 3']);
  assert.is(r.code, 1);
  assert.match(r.err, /exit code 3/);
  assert.is(ok(['exec', '-i', ctr, 'cat'], 'through stdin\n'), 'through stdin');
});

test('logs, inspect, stats', () => {
  if (!ready) return;
  const r = crictl(['logs', ctr]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /hello from berth/);
  assert.match(r.err, /oops/);
  const st = JSON.parse(ok(['inspect', ctr]));
  assert.is(st.status.state, 'CONTAINER_RUNNING');
  assert.is(st.status.logPath, path.join(base, 'logs', 'box.log'));
  assert.match(ok(['stats']), new RegExp(ctr.slice(0, 13)));
});

test('stop, rm, stopp, rmp, rmi', () => {
  if (!ready) return;
  ok(['stop', '--timeout', '1', ctr]);
  assert.match(ok(['ps', '-a']), /Exited\s+box/);
  ok(['rm', ctr]);
  ok(['stopp', pod]);
  assert.match(ok(['pods']), /NotReady/);
  ok(['rmp', pod]);
  assert.is(ok(['pods', '-q']), '');
  ok(['rmi', ref]);
  assert.not.match(ok(['images']), /cri\/bb/);
});

test.run();
