// dockerode (an independent Docker SDK) against berth's Docker API, served in this process by
// startDockerApi: pull with progress, create/attach/start/wait, logs demuxing, inspect, list with
// filters, exec with its exit code, stats, top, events, remove; images list/inspect/tag/remove.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { isRoot, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, type TestRegistry } from '../lib/registry.js';
import { registryWithBusybox, testCniNetwork } from '../lib/dockerapi.js';
import { ContainerService } from '../../engine/service.js';
import { startDockerApi, type DockerApiServer } from '../../dockerapi/server.js';

function collect(stream: NodeJS.ReadableStream, demux?: (s: NodeJS.ReadableStream, out: PassThrough, err: PassThrough) => void) {
  const out = new PassThrough(), err = new PassThrough();
  let o = '', e = '';
  out.on('data', (d) => { o += d; });
  err.on('data', (d) => { e += d; });
  if (demux) demux(stream, out, err); else stream.pipe(out);
  return { done: new Promise<void>((r) => stream.on('end', () => r())), get out() { return o; }, get err() { return e; } };
}

if (!isRoot) skip('dockerode tests', 'need root (containers, mounts, cgroups)');
else if (!haveRegistry()) skip('dockerode tests', 'docker-registry is not installed');
else {
  let reg: TestRegistry;
  let ref: string;
  let srv: DockerApiServer;
  let docker: Docker;
  let root: string, state: string;
  let network: ReturnType<typeof testCniNetwork> | undefined;

  test.before(async () => {
    ({ reg, ref } = await registryWithBusybox());
    root = tmpDir('berth-dode-root-');
    state = tmpDir('berth-dode-state-');
    // containers join a bridge network by default: a test-only one, taken down in after()
    network = testCniNetwork(root, state);
    srv = await startDockerApi({ socketPath: path.join(state, 'docker.sock'), engine: new ContainerService({ root, state, runtime: process.env.BERTH_RUNTIME_BIN, cniConfDir: network.confDir }) });
    docker = new Docker({ socketPath: srv.socketPath });
  });
  test.after(async () => {
    if (docker) for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    await srv?.close();
    await reg?.stop();
    network?.undo();
    for (const d of [root, state]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('ping, version, info', async () => {
    assert.is(String(await docker.ping()), 'OK');
    const v = await docker.version();
    assert.is(v.ApiVersion, '1.45');
    const info = await docker.info();
    assert.is(info.OSType, 'linux');
  });

  test('pull with progress events', async () => {
    const stream = await docker.pull(ref);
    const events: { status?: string }[] = await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, res: { status?: string }[]) => (err ? reject(err) : resolve(res))));
    assert.ok(events.some((e) => e.status === 'Pull complete'), JSON.stringify(events));
    const imgs = await docker.listImages();
    assert.ok(imgs.some((i) => (i.RepoTags ?? []).includes(ref)));
    const ins = await docker.getImage(ref).inspect();
    assert.match(ins.Id, /^sha256:/);
    assert.equal(ins.Config.Cmd, ['/bin/sh']);
  });

  test('create, attach (hijacked, demuxed), start, wait', async () => {
    const c = await docker.createContainer({ Image: ref, Cmd: ['sh', '-c', 'read x; echo got $x; echo oops >&2; exit 7'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const got = collect(stream, (s, o, e) => docker.modem.demuxStream(s, o, e));
    const waited = c.wait({ condition: 'next-exit' });
    await c.start();
    stream.write('hello\n');
    const w = await waited;
    await got.done;
    assert.is(w.StatusCode, 7);
    assert.is(got.out, 'got hello\n');
    assert.is(got.err, 'oops\n');
    const ins = await c.inspect();
    assert.is(ins.State.Status, 'exited');
    assert.is(ins.State.ExitCode, 7);
    await c.remove();
  });

  test('logs (multiplexed), list filters, exec exit code, top, stats, events', async () => {
    const c = await docker.createContainer({ Image: ref, name: 'dode', Labels: { app: 'x' }, Cmd: ['sh', '-c', 'echo a; echo b >&2; exec sleep 1000'] });
    await c.start();
    await new Promise((r) => setTimeout(r, 300));
    const buf = await c.logs({ stdout: true, stderr: true, follow: false }) as unknown as Buffer;
    // frame 1: stdout "a\n", frame 2: stderr "b\n"
    assert.is(buf[0], 1);
    assert.is(buf.readUInt32BE(4), 2);
    assert.is(buf.subarray(8, 10).toString(), 'a\n');
    assert.is(buf[10], 2);
    const byLabel = await docker.listContainers({ filters: { label: ['app=x'] } });
    assert.equal(byLabel.map((x) => x.Names[0]), ['/dode']);
    assert.is((await docker.listContainers({ filters: { label: ['app=y'] } })).length, 0);
    const ex = await c.exec({ Cmd: ['sh', '-c', 'echo in; exit 9'], AttachStdout: true, AttachStderr: true });
    const es = await ex.start({ hijack: true, stdin: false });
    const got = collect(es, (s, o, e) => docker.modem.demuxStream(s, o, e));
    await got.done;
    assert.is(got.out, 'in\n');
    const ei = await ex.inspect();
    assert.is(ei.ExitCode, 9);
    assert.is(ei.Running, false);
    const top = await c.top();
    assert.ok(top.Processes.some((p: string[]) => p.join(' ').includes('sleep 1000')));
    const st = await c.stats({ stream: false });
    assert.ok(st.memory_stats.usage > 0, JSON.stringify(st.memory_stats));
    assert.ok(st.cpu_stats.system_cpu_usage > 0);
    const evs = await docker.getEvents({ filters: { container: ['dode'] } }) as unknown as NodeJS.ReadableStream & { destroy(): void };
    let seen = '';
    evs.on('data', (d: Buffer) => { seen += d; });
    await c.stop({ t: 1 });
    for (let i = 0; i < 40 && !seen.includes('"stop"'); i++) await new Promise((r) => setTimeout(r, 50));
    evs.destroy();
    const actions = seen.trim().split('\n').map((l) => (JSON.parse(l) as { Action: string }).Action);
    assert.equal(actions.filter((a) => a === 'die' || a === 'stop'), ['die', 'stop']);
    await c.remove();
  });

  test('errors: 404 and 409 reach the SDK with Docker\'s status codes', async () => {
    const err = await docker.getContainer('nope').inspect().catch((e: { statusCode: number; json?: { message: string } }) => e);
    assert.is((err as { statusCode: number }).statusCode, 404);
    const c = await docker.createContainer({ Image: ref, name: 'dup', Cmd: ['true'] });
    const dup = await docker.createContainer({ Image: ref, name: 'dup', Cmd: ['true'] }).catch((e: { statusCode: number }) => e);
    assert.is((dup as { statusCode: number }).statusCode, 409);
    await c.remove();
    const noimg = await docker.createContainer({ Image: 'localhost/none:1', Cmd: ['true'] }).catch((e: { statusCode: number }) => e);
    assert.is((noimg as { statusCode: number }).statusCode, 404);
  });

  test('image tag and remove', async () => {
    await docker.getImage(ref).tag({ repo: 'localhost/dode', tag: 'v1' });
    assert.ok((await docker.listImages()).some((i) => (i.RepoTags ?? []).includes('localhost/dode:v1')));
    const out = await docker.getImage('localhost/dode:v1').remove();
    assert.equal(out, [{ Untagged: 'localhost/dode:v1' }]);
  });

  test.run();
}
if (!isRoot || !haveRegistry()) test.run();
