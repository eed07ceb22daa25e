// The real docker CLI (v28) against berth's Docker API socket: version negotiation, pull from a
// local registry, run (attached, --rm, -d, -i with stdin, -it through a pty), logs -f, exec (-it
// too), ps, inspect, stop/kill/restart/pause, top, stats, rm, images, rmi, save/load.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { isRoot, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../lib/registry.js';
import { DOCKER_BIN, api, docker, haveDocker, registryWithBusybox, startApiServer, type ApiServer } from '../lib/dockerapi.js';

/** Runs the docker CLI under a pseudo-terminal (util-linux `script`), feeding `input` slowly. */
function dockerInPty(socket: string, args: string[], input: string[], timeoutMs = 30_000): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const cfg = path.join(path.dirname(socket), 'docker-config');
    const cmd = [DOCKER_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const p = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: cfg, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => { out += d; });
    p.stderr!.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += '[test] timed out'; p.kill('SIGKILL'); }, timeoutMs);
    (async () => {
      for (const line of input) {
        await new Promise((r) => setTimeout(r, 700));
        if (!p.stdin!.destroyed) p.stdin!.write(line);
      }
    })();
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, out }); });
  });
}

if (!isRoot) skip('docker API CLI tests', 'need root (containers, mounts, cgroups)');
else if (!haveDocker()) skip('docker API CLI tests', `no docker CLI at ${DOCKER_BIN}`);
else if (!haveRegistry()) skip('docker API CLI tests', 'docker-registry is not installed');
else {
  let reg: TestRegistry;
  let ref: string;
  let s: ApiServer;
  const d = (args: string[], o?: Parameters<typeof docker>[2]) => docker(s.socket, args, o);
  const ok = async (args: string[], o?: Parameters<typeof docker>[2]) => {
    const r = await d(args, o);
    assert.is(r.status, 0, `docker ${args.join(' ')} exited ${r.status}: ${r.stderr}\n--- server log ---\n${s.log().slice(-3000)}`);
    return r.stdout;
  };

  test.before(async () => {
    ({ reg, ref } = await registryWithBusybox());
    s = await startApiServer();
  });
  const dirs: string[] = [];
  const mk = (prefix: string) => { const x = tmpDir(prefix); dirs.push(x); return x; };
  test.after(async () => {
    await s?.stop();
    await reg?.stop();
    for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
  });

  test('version negotiation: the v28 CLI downgrades to the server API; ping headers', async () => {
    const out = await ok(['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}} {{.Server.Os}}']);
    assert.is(out.trim(), '1.45 1.45 linux');
    const ping = await api(s.socket, 'HEAD', '/_ping');
    assert.is(ping.status, 200);
    assert.is(ping.headers['api-version'], '1.45');
    assert.is(ping.headers['ostype'], 'linux');
    assert.is(ping.headers['docker-experimental'], 'false');
    assert.is((await api(s.socket, 'GET', '/v1.41/_ping')).text, 'OK');
    const tooNew = await api(s.socket, 'GET', '/v1.99/version');
    assert.is(tooNew.status, 400);
    assert.match(tooNew.json().message, 'too new');
    const info = await ok(['info', '--format', '{{.OSType}} {{.Driver}} {{.DefaultRuntime}}']);
    assert.is(info.trim(), 'linux overlay berth');
  });

  test('errors in Docker\'s shape: 404 no such container/image, 400 bad parameter', async () => {
    const r = await api(s.socket, 'GET', '/containers/nope/json');
    assert.is(r.status, 404);
    assert.equal(r.json(), { message: 'No such container: nope' });
    const cli = await d(['inspect', '--type', 'container', 'nope']);
    assert.is.not(cli.status, 0);
    assert.match(cli.stderr, 'No such container: nope');
    const img = await api(s.socket, 'GET', '/images/nope:1/json');
    assert.is(img.status, 404);
    assert.match(img.json().message, 'No such image');
    const bad = await api(s.socket, 'POST', '/containers/create', { Image: 'x', HostConfig: { RestartPolicy: { Name: 'sometimes' } } });
    assert.is(bad.status, 400);
    assert.match(bad.json().message, 'restart policy');
  });

  test('pull renders progress; images lists it', async () => {
    const out = await ok(['pull', ref]);
    assert.match(out, 'Pull complete');
    assert.match(out, `Status: Downloaded newer image for ${ref}`);
    const again = await ok(['pull', ref]);
    assert.match(again, 'Image is up to date');
    const list = await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(list, ref);
  });

  test('run --rm: output, exit code, removed afterwards', async () => {
    const r = await d(['run', '--rm', '--name', 'rm1', ref, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.is(r.status, 3, r.stderr);
    assert.is(r.stdout, 'out\n');
    assert.is(r.stderr, 'err\n');
    const ps = await ok(['ps', '-a', '--format', '{{.Names}}']);
    assert.not.match(ps, 'rm1');
  });

  test('run -i: stdin reaches the container and its end closes stdin', async () => {
    const out = await ok(['run', '--rm', '-i', ref, 'sh', '-c', 'cat; echo done'], { input: 'line1\nline2\n' });
    assert.is(out, 'line1\nline2\ndone\n');
  });

  test('create options: env, workdir, user, tmpfs, binds, read-only, memory, pids', async () => {
    const host = mk('berth-dapi-bind-');
    fs.chmodSync(host, 0o755); // the container user 1000 must be able to enter it
    fs.writeFileSync(path.join(host, 'f'), 'from host\n');
    const out = await ok(['run', '--rm', '-e', 'A=1', '-w', '/tmp', '-u', '1000:1000', '--tmpfs', '/scratch', '-v', `${host}:/h:ro`,
      '--read-only', '-m', '64m', '--pids-limit', '50', '--cap-drop', 'ALL', '--network', 'none', ref,
      'sh', '-c', 'echo $A; pwd; id -u; cat /h/f; touch /scratch/x && echo tmpfs-ok; touch /nope 2>/dev/null || echo ro-ok; touch /h/g 2>/dev/null || echo bind-ro-ok']);
    assert.is(out, '1\n/tmp\n1000\nfrom host\ntmpfs-ok\nro-ok\nbind-ro-ok\n');
    fs.rmSync(host, { recursive: true, force: true });
  });

  test('run -d, logs (-f, --tail, -t), inspect, ps, top, stats, exec, stop, rm', async () => {
    const id = (await ok(['run', '-d', '--name', 'bg', ref, 'sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'])).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    await new Promise((r) => setTimeout(r, 800));
    const logs = await ok(['logs', 'bg']);
    assert.match(logs, 'tick 0\ntick 1\n');
    const tail = await ok(['logs', '--tail', '1', 'bg']);
    assert.is(tail.trim().split('\n').length, 1);
    const ts = await ok(['logs', '-t', '--tail', '1', 'bg']);
    assert.match(ts, /^\d{4}-\d\d-\d\dT\S+ tick \d+\n$/);
    assert.match(await ok(['logs', '--since', '5m', 'bg']), 'tick 0\n');
    assert.is(await ok(['logs', '--since', String(Math.floor(Date.now() / 1000) + 3600), 'bg']), '');
    const follow = await d(['logs', '-f', 'bg'], { timeoutMs: 1500 });
    assert.match(follow.stdout, 'tick 0');
    const st = await ok(['inspect', '--format', '{{.State.Status}} {{.State.Running}} {{.Name}} {{.Config.Image}} {{.HostConfig.NetworkMode}}', 'bg']);
    assert.is(st.trim(), `running true /bg ${ref} default`);
    const ps = await ok(['ps', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps, /bg Up/);
    const filtered = await ok(['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}']);
    assert.not.match(filtered, 'bg');
    const top = await ok(['top', 'bg']);
    assert.match(top, 'sleep');
    const stats = await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', 'bg']);
    assert.match(stats, /^bg \d/);
    const ex = await d(['exec', 'bg', 'sh', '-c', 'echo in-exec; exit 4']);
    assert.is(ex.status, 4);
    assert.is(ex.stdout, 'in-exec\n');
    const t0 = Date.now();
    await ok(['stop', '-t', '1', 'bg']);
    assert.ok(Date.now() - t0 < 5000, 'stop took too long');
    const exited = await ok(['inspect', '--format', '{{.State.Status}}', 'bg']);
    assert.is(exited.trim(), 'exited');
    await ok(['rm', 'bg']);
    const gone = await d(['inspect', 'bg']);
    assert.is.not(gone.status, 0);
  });

  test('kill, restart, pause/unpause, rm -f, name conflict (409)', async () => {
    await ok(['run', '-d', '--name', 'k', ref, 'sleep', '1000']);
    const dup = await d(['create', '--name', 'k', ref, 'true']);
    assert.is.not(dup.status, 0);
    assert.match(dup.stderr, 'Conflict');
    await ok(['pause', 'k']);
    assert.is((await ok(['inspect', '--format', '{{.State.Status}}', 'k'])).trim(), 'paused');
    await ok(['unpause', 'k']);
    assert.is((await ok(['inspect', '--format', '{{.State.Status}}', 'k'])).trim(), 'running');
    const pid1 = (await ok(['inspect', '--format', '{{.State.Pid}}', 'k'])).trim();
    await ok(['restart', '-t', '0', 'k']);
    const pid2 = (await ok(['inspect', '--format', '{{.State.Pid}}', 'k'])).trim();
    assert.is.not(pid1, pid2);
    const rmRunning = await d(['rm', 'k']);
    assert.is.not(rmRunning.status, 0);
    assert.match(rmRunning.stderr, 'stop the container before removing or force remove');
    await ok(['kill', 'k']);
    const code = (await ok(['wait', 'k'])).trim();
    assert.is(code, '137');
    await ok(['run', '-d', '--name', 'f', ref, 'sleep', '1000']);
    await ok(['rm', '-f', 'f', 'k']);
    assert.is((await ok(['ps', '-aq'])).trim(), '');
  });

  test('run -it through a pty: a shell, typed input, exit code', async () => {
    const r = await dockerInPty(s.socket, ['run', '--rm', '-it', ref, 'sh'], ['echo hi-$((6*7))\r', 'tty\r', 'exit 5\r']);
    assert.match(r.out, 'hi-42');
    assert.match(r.out, '/dev/pts/');
    assert.is(r.status, 5, r.out);
  });

  test('exec -it through a pty', async () => {
    await ok(['run', '-d', '--name', 'ex', ref, 'sleep', '1000']);
    const r = await dockerInPty(s.socket, ['exec', '-it', 'ex', 'sh'], ['echo exec-$((2+3))\r', 'exit 0\r']);
    assert.match(r.out, 'exec-5');
    assert.is(r.status, 0, r.out);
    await ok(['rm', '-f', 'ex']);
  });

  test('save, rmi, load, tag', async () => {
    const dir = mk('berth-dapi-save-');
    const tar = path.join(dir, 'img.tar');
    await ok(['save', '-o', tar, ref]);
    assert.ok(fs.statSync(tar).size > 100_000);
    await ok(['tag', ref, 'localhost/other:v2']);
    const rmi = await ok(['rmi', ref, 'localhost/other:v2']);
    assert.match(rmi, `Untagged: ${ref}`);
    assert.match(rmi, 'Deleted: sha256:');
    assert.not.match(await ok(['images']), 't/bb');
    const loaded = await ok(['load', '-i', tar]);
    assert.match(loaded, `Loaded image: ${ref}`);
    const run = await ok(['run', '--rm', ref, 'echo', 'after-load']);
    assert.is(run, 'after-load\n');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('push: a tagged image reaches the registry and pulls back', async () => {
    const dest = `${reg.host}/t/pushed:v1`;
    await ok(['tag', ref, dest]);
    const out = await ok(['push', dest]);
    assert.match(out, 'digest: sha256:');
    await ok(['rmi', dest]);
    await ok(['pull', dest]);
    assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), dest);
  });

  test('restart policy on-failure with a maximum retry count; restart of a --rm container; a failed start of a --rm container removes it', async () => {
    await ok(['run', '-d', '--name', 'rp', '--restart', 'on-failure:2', ref, 'sh', '-c', 'exit 1']);
    // as with dockerd, a container a policy is restarting has not stopped: wait returns after the last run
    assert.is((await ok(['wait', 'rp'])).trim(), '1');
    assert.is((await ok(['inspect', '--format', '{{.RestartCount}} {{.State.Status}} {{.State.Running}} {{.State.Restarting}}', 'rp'])).trim(), '2 exited false false');
    await ok(['rm', 'rp']);
    // while a restart is pending: Status restarting, Running and Restarting true; a stop cancels it
    await ok(['run', '-d', '--name', 'ra', '--restart', 'always', ref, 'sh', '-c', 'exit 2']);
    let st = '';
    for (let i = 0; i < 100 && !st.startsWith('restarting'); i++) {
      st = (await ok(['inspect', '--format', '{{.State.Status}} {{.State.Running}} {{.State.Restarting}} {{.State.ExitCode}}', 'ra'])).trim();
      if (!st.startsWith('restarting')) await new Promise((r) => setTimeout(r, 50));
    }
    assert.is(st, 'restarting true true 2');
    assert.match(await ok(['ps', '--format', '{{.Names}} {{.Status}}']), /^ra Restarting \(2\)/m);
    await ok(['stop', 'ra']);
    assert.is((await ok(['inspect', '--format', '{{.State.Status}} {{.State.Restarting}}', 'ra'])).trim(), 'exited false');
    await ok(['rm', 'ra']);
    // restart of a --rm container keeps it (the stop is part of the restart)
    await ok(['run', '-d', '--rm', '--name', 'rr', ref, 'sleep', '1000']);
    await ok(['restart', '-t', '0', 'rr']);
    assert.is((await ok(['inspect', '--format', '{{.State.Status}}', 'rr'])).trim(), 'running');
    await ok(['stop', '-t', '0', 'rr']);
    for (let i = 0; i < 50 && (await d(['inspect', 'rr'])).status === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.is.not((await d(['inspect', 'rr'])).status, 0, 'a stopped --rm container is removed');
    const bad = await d(['run', '--rm', '--name', 'badstart', ref, '/no/such/binary']);
    assert.is.not(bad.status, 0);
    assert.not.match(await ok(['ps', '-a', '--format', '{{.Names}}']), 'badstart');
  });

  test('login (POST /auth) and X-Registry-Auth: push to and pull from a registry that needs a password', async () => {
    const priv = await startRegistry({ kind: 'basic', users: { alice: 'secret' } });
    try {
      const bad = await d(['login', '-u', 'alice', '--password-stdin', priv.host], { input: 'wrong\n' });
      assert.is.not(bad.status, 0);
      assert.match(bad.stderr, '401');
      assert.match(await ok(['login', '-u', 'alice', '--password-stdin', priv.host], { input: 'secret\n' }), 'Login Succeeded');
      const dest = `${priv.host}/t/priv:v1`;
      await ok(['tag', ref, dest]);
      assert.match(await ok(['push', dest]), 'digest: sha256:');
      await ok(['rmi', dest]);
      await ok(['pull', dest]);
      await ok(['logout', priv.host]);
      await ok(['rmi', dest]);
      const anon = await d(['pull', dest]);
      assert.is.not(anon.status, 0, 'pull without credentials must fail');
    } finally {
      await priv.stop();
    }
  });

  test('named volumes, networks, container prune', async () => {
    await ok(['volume', 'create', 'v1']);
    await ok(['run', '--name', 'vw', '-v', 'v1:/data', ref, 'sh', '-c', 'echo kept > /data/f']);
    assert.is(await ok(['run', '--rm', '-v', 'v1:/data', ref, 'cat', '/data/f']), 'kept\n');
    assert.match(await ok(['volume', 'ls', '--format', '{{.Name}}']), 'v1');
    const inUse = await d(['volume', 'rm', 'v1']);
    assert.is.not(inUse.status, 0);
    assert.match(inUse.stderr, 'in use');
    const vw = (await ok(['inspect', '--format', '{{.Id}}', 'vw'])).trim();
    const pruned = await ok(['container', 'prune', '-f']);
    assert.match(pruned, 'Deleted Containers');
    assert.match(pruned, vw);
    assert.is((await ok(['ps', '-aq'])).trim(), '');
    await ok(['volume', 'rm', 'v1']);
    assert.not.match(await ok(['volume', 'ls', '--format', '{{.Name}}']), 'v1');
    const nets = await ok(['network', 'ls', '--format', '{{.Name}}']);
    assert.equal(nets.trim().split('\n').sort(), ['host', 'none']);
  });

  test('events stream shows a container life', async () => {
    const ev = spawn(DOCKER_BIN, ['events', '--format', '{{.Action}} {{.Actor.Attributes.name}}', '--filter', 'container=evt'],
      { env: { PATH: process.env.PATH, DOCKER_HOST: `unix://${s.socket}`, DOCKER_CONFIG: path.join(path.dirname(s.socket), 'docker-config') } });
    let out = '';
    ev.stdout.on('data', (x) => { out += x; });
    await new Promise((r) => setTimeout(r, 500));
    await ok(['run', '--rm', '--name', 'evt', ref, 'true']);
    for (let i = 0; i < 40 && !out.includes('destroy'); i++) await new Promise((r) => setTimeout(r, 50));
    ev.kill('SIGTERM');
    assert.match(out, /create evt\n(.*\n)*start evt\n(.*\n)*die evt\n(.*\n)*destroy evt/);
  });

  test.run();
}
if (!isRoot || !haveDocker() || !haveRegistry()) test.run();
