// Published ports and ipMasq on the built-in network, done natively (nat-rules.ts: per-container
// BERTH-* chains, one iptables-restore each way) on the real kernel: listeners in two pods are
// reached through their host ports from 127.0.0.1, the host's own address, the bridge address and
// another pod; a hostIP limits a port to that address; teardown leaves the nat table as it found it;
// a setup that fails or whose process is killed right after the rules went in leaves nothing once
// torn down; ipMasq hides the pod's address behind the host's on the way out. No trace is left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isRoot, skip, tmpDir, run, REPO } from '../lib/harness.js';
import { NetworkManager, type NetworkSetup } from '../../engine/network/index.js';
import { RecordStore } from '../../engine/network/network-record.js';
import { BerthError } from '../../lib/errors.js';
import { BERTH_CHAIN, uniqueNetwork, natChains, removePortmapChains, readSysctl, writeSysctl, inNetns, linkExists, bridgePorts } from '../lib/network.js';

const hasRestore = run('iptables-restore', ['--version']).status === 0;
const reason = !isRoot ? 'needs root (network namespaces, bridges, iptables)' : !hasRestore ? 'iptables-restore is not installed' : '';

/** The nat table as iptables-save prints it, without its timestamp comments and counters. */
function natTable(): string[] {
  return run('iptables-save', ['-t', 'nat']).stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

/** Connect, read until the peer closes (httpd answers one request, `nc -e` one line). */
function fetchText(host: string, port: number, request = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => s.write(request));
    let out = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`timeout talking to ${host}:${port}`)); });
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}
const httpGet = (host: string, port: number) => fetchText(host, port, 'GET /index.html HTTP/1.0\r\n\r\n').then((t) => t.split('\r\n\r\n')[1]);
const refused = (p: Promise<unknown>) => p.then(() => false, () => true);

/** The host's address on its default route (a non-loopback address that is no test bridge's). */
function hostAddress(): string | undefined {
  const dev = /dev (\S+)/.exec(run('ip', ['-4', 'route', 'show', 'default']).stdout)?.[1];
  if (!dev) return undefined;
  return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(run('ip', ['-4', '-o', 'addr', 'show', 'dev', dev, 'scope', 'global']).stdout)?.[1];
}

async function until(what: string, probe: () => Promise<unknown>): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try { await probe(); return; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: ${(last as Error)?.message}`);
}

if (reason) {
  skip('network-hostports', reason);
} else {
  const netw = uniqueNetwork();
  let masqNet = uniqueNetwork();
  while (masqNet.subnet === netw.subnet) masqNet = uniqueNetwork();
  const work = tmpDir('berth-hostports-');
  const netnsDir = path.join(work, 'netns');
  const dataDir = path.join(work, 'data');
  const chainsBefore = natChains();
  const natBefore = natTable();
  const forwardBefore = readSysctl('net.ipv4.ip_forward');
  const opts = { dataDir, netnsDir, confDir: path.join(work, 'no-such-dir'), driver: 'auto' as const };
  const mgr = new NetworkManager({ ...opts, defaultNetwork: { name: netw.name, bridge: netw.bridge, subnet: netw.subnet } });
  const masq = new NetworkManager({ ...opts, defaultNetwork: { name: masqNet.name, bridge: masqNet.bridge, subnet: masqNet.subnet, ipMasq: true } });
  const records = new RecordStore(path.join(dataDir, 'results'));
  const base = 20000 + Math.floor(Math.random() * 20000);
  const [portA, portB, portLocal] = [base, base + 1, base + 2];
  const children: ChildProcess[] = [];
  const ids = ['a', 'b', 'fail', 'crash', 'm', 'plain'];
  // a link to a namespace standing for "outside" (another machine on another network)
  const third = 1 + Math.floor(Math.random() * 250);
  const outside = { host: `bto${netw.bridge.slice(3)}`, peer: 'eth0', hostIP: `10.214.${third}.1`, ip: `10.214.${third}.2` };
  let a: NetworkSetup;
  let b: NetworkSetup;

  const serve = (netnsPath: string, cmd: string[]) => {
    const c = spawn('nsenter', [`--net=${netnsPath}`, ...cmd], { stdio: 'ignore' });
    children.push(c);
    return c;
  };
  const ourLines = (lines: string[]) => lines.filter((l) => /BERTH-|berth:/.test(l) || l.includes(netw.bridge) || l.includes(masqNet.bridge));

  const cleanup = async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const id of ids) {
      await mgr.teardownNetwork(id).catch((e) => console.error('teardown', id, e));
      await masq.teardownNetwork(id).catch((e) => console.error('teardown', id, e));
    }
    for (const id of mgr.netns.list()) mgr.netns.remove(id);
    for (const br of [netw.bridge, masqNet.bridge]) {
      for (let i = 0; i < 100 && linkExists(br) && bridgePorts(br).length; i++) await new Promise((r) => setTimeout(r, 50));
      if (linkExists(br)) run('ip', ['link', 'del', br]);
    }
    if (linkExists(outside.host)) run('ip', ['link', 'del', outside.host]);
    removePortmapChains(chainsBefore);
    writeSysctl('net.ipv4.ip_forward', forwardBefore);
    mgr.netns.releaseDir();
    fs.rmSync(work, { recursive: true, force: true });
  };
  test.after(cleanup);

  test('two pods, each with its own published port, reached from 127.0.0.1, the host address, the bridge and a pod', async () => {
    a = await mgr.setupNetwork({ id: 'a', portMappings: [{ hostPort: portA, containerPort: 8080 }] });
    b = await mgr.setupNetwork({ id: 'b', portMappings: [{ hostPort: portB, containerPort: 9000 }, { hostPort: portLocal, containerPort: 9000, hostIP: '127.0.0.1' }] });
    const www = path.join(work, 'www');
    fs.mkdirSync(www);
    fs.writeFileSync(path.join(www, 'index.html'), 'pod A\n');
    serve(a.netnsPath, ['busybox', 'httpd', '-f', '-p', '8080', '-h', www]);
    serve(b.netnsPath, ['busybox', 'nc', '-ll', '-p', '9000', '-e', 'echo', 'pod B']);
    await until('pod A listens', () => httpGet(a.ip as string, 8080));
    await until('pod B listens', () => fetchText(b.ip as string, 9000));

    const host = hostAddress();
    const targets = ['127.0.0.1', a.gateway as string, ...(host ? [host] : [])];
    for (const t of targets) {
      assert.is(await httpGet(t, portA), 'pod A\n', `${t}:${portA} -> pod A`);
      assert.is(await fetchText(t, portB), 'pod B\n', `${t}:${portB} -> pod B`);
    }
    if (!host) console.log('note: no default route, the host-address case was not tried');
    // pod -> hostPort of another pod and of itself (hairpin): masqueraded behind the bridge address
    for (const [from, port, want] of [[b, portA, 'pod A'], [a, portA, 'pod A']] as const) {
      const r = inNetns(from.netnsPath, ['busybox', 'wget', '-q', '-O', '-', `http://${a.gateway}:${port}/index.html`], 5000);
      assert.is(r.stdout, `${want}\n`, `pod ${from.id} -> ${a.gateway}:${port}: ${r.stderr}`);
    }
    // hostIP 127.0.0.1: that address only
    assert.is(await fetchText('127.0.0.1', portLocal), 'pod B\n');
    assert.ok(await refused(fetchText(a.gateway as string, portLocal)), `${a.gateway}:${portLocal} is not published`);

    const rec = records.read('b');
    assert.is(rec?.nat?.chains.length, 2);
    assert.is(rec?.nat?.jumps?.length, 3, 'PREROUTING, OUTPUT, POSTROUTING');
    assert.ok(rec?.nat?.chains.every((c) => BERTH_CHAIN.test(c)));
    assert.not.ok([...natChains()].some((c) => c.startsWith('CNI-DN-') && !chainsBefore.has(c)), 'portmap was not run');
  });

  test('teardown of one pod leaves the other\'s port working; after both the nat table is as before', async () => {
    const aChains = records.read('a')?.nat?.chains ?? [];
    await mgr.teardownNetwork('a');
    for (const c of aChains) assert.not.ok(natChains().has(c), `${c} removed`);
    assert.ok(await refused(httpGet('127.0.0.1', portA)), 'port A is gone');
    assert.is(await fetchText('127.0.0.1', portB), 'pod B\n', 'port B still works');
    await mgr.teardownNetwork('b');
    await mgr.teardownNetwork('b');
    // other processes may change unrelated rules meanwhile: compare what could be this test's
    const added = natTable().filter((l) => !natBefore.includes(l));
    assert.equal(ourLines(added), [], 'no berth rule or chain left');
    assert.equal(ourLines(natTable()), ourLines(natBefore));
  });

  test('a restore that fails after applying its rules is undone by the rollback', async () => {
    const bin = path.join(work, 'fail-bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'iptables-restore'), '#!/bin/sh\ncase " $* " in *" --noflush "*) /usr/sbin/iptables-restore "$@"; echo injected failure >&2; exit 1;; esac\nexec /usr/sbin/iptables-restore "$@"\n', { mode: 0o755 });
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    let err: unknown;
    try {
      await mgr.setupNetwork({ id: 'fail', portMappings: [{ hostPort: portA, containerPort: 80 }] });
    } catch (e) {
      err = e;
    } finally {
      process.env.PATH = savedPath;
    }
    assert.instance(err, BerthError);
    assert.match((err as Error).message, /iptables rules for fail: injected failure/);
    assert.not.ok(mgr.list().includes('fail'), 'no record');
    assert.not.ok(fs.existsSync(path.join(netnsDir, 'fail')), 'no namespace');
    assert.equal(ourLines(natTable().filter((l) => !natBefore.includes(l))), [], 'no rule left');
  });

  test('a process killed right after its rules went in: the next teardown removes them', async () => {
    const bin = path.join(work, 'crash-bin');
    fs.mkdirSync(bin);
    // applies the rules, then kills the Node process that ran it: a crash before the record says "ready"
    fs.writeFileSync(path.join(bin, 'iptables-restore'), '#!/bin/sh\n/usr/sbin/iptables-restore "$@"\nkill -9 $PPID\nsleep 5\n', { mode: 0o755 });
    const script = `
      import { NetworkManager } from ${JSON.stringify(path.join(REPO, 'engine/network/index.ts'))};
      const m = new NetworkManager(${JSON.stringify({ ...opts, defaultNetwork: { name: netw.name, bridge: netw.bridge, subnet: netw.subnet } })});
      await m.setupNetwork({ id: 'crash', portMappings: [{ hostPort: ${portA}, containerPort: 80 }] });
      console.log('setup finished');`;
    const r = run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, cwd: REPO, timeout: 30_000 });
    assert.is(r.signal, 'SIGKILL', `the setup process was killed: ${r.stdout}${r.stderr}`);
    const rec = records.read('crash');
    assert.is(rec?.phase, 'adding');
    assert.is(rec?.nat?.jumps, undefined, 'the record never learned what was applied');
    for (const c of rec?.nat?.chains ?? []) assert.ok(natChains().has(c), `${c} was applied`);
    await mgr.teardownNetwork('crash');
    assert.not.ok(mgr.list().includes('crash'));
    assert.not.ok(fs.existsSync(path.join(netnsDir, 'crash')));
    assert.equal(ourLines(natTable().filter((l) => !natBefore.includes(l))), [], 'no rule left');
  });

  test('ipMasq: traffic leaving the host carries the host\'s address, natively; without it the pod\'s own', async () => {
    const m = await masq.setupNetwork({ id: 'm' });
    const plain = await mgr.setupNetwork({ id: 'plain' });
    assert.is(records.read('m')?.driver, 'native', 'ipMasq keeps the native driver');
    assert.equal(records.read('m')?.nat?.chains.map((c) => c.slice(0, 9)), ['BERTH-MQ-']);
    assert.is(records.read('plain')?.nat, undefined, 'no ports, no ipMasq: no iptables at all');
    // "outside": a namespace behind a second host link that routes back to both pod subnets
    const out = mgr.netnsFor('outside-ns').create();
    assert.is(run('ip', ['link', 'add', outside.host, 'type', 'veth', 'peer', 'name', 'bto-peer']).status, 0);
    assert.is(run('ip', ['link', 'set', 'bto-peer', 'netns', out, 'name', outside.peer]).status, 0);
    run('ip', ['addr', 'add', `${outside.hostIP}/24`, 'dev', outside.host]);
    run('ip', ['link', 'set', outside.host, 'up']);
    for (const cmd of [['ip', 'addr', 'add', `${outside.ip}/24`, 'dev', 'eth0'], ['ip', 'link', 'set', 'eth0', 'up'], ['ip', 'link', 'set', 'lo', 'up'],
      ['ip', 'route', 'add', netw.subnet, 'via', outside.hostIP], ['ip', 'route', 'add', masqNet.subnet, 'via', outside.hostIP]]) {
      assert.is(inNetns(out, cmd).status, 0, cmd.join(' '));
    }
    const cgi = path.join(work, 'outside-www', 'cgi-bin');
    fs.mkdirSync(cgi, { recursive: true });
    fs.writeFileSync(path.join(cgi, 'addr'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n', { mode: 0o755 });
    serve(out, ['busybox', 'httpd', '-f', '-p', '8081', '-h', path.dirname(cgi)]);
    // busybox httpd listens on IPv6 too and names an IPv4 peer [::ffff:a.b.c.d]
    const seen = (from: NetworkSetup) => {
      const r = inNetns(from.netnsPath, ['busybox', 'wget', '-q', '-O', '-', `http://${outside.ip}:8081/cgi-bin/addr`], 5000);
      return { ...r, stdout: r.stdout.replace(/^\[::ffff:(.*)\]$/m, '$1') };
    };
    await until('outside listens', async () => { if (seen(plain).status !== 0) throw new Error(seen(plain).stderr); });
    assert.is(seen(m).stdout, `${outside.hostIP}\n`, 'ipMasq: masqueraded behind the host');
    assert.is(seen(plain).stdout, `${plain.ip}\n`, 'no ipMasq: the pod\'s own address');
    const chains = records.read('m')?.nat?.chains ?? [];
    await masq.teardownNetwork('m');
    await mgr.teardownNetwork('plain');
    mgr.netnsFor('outside-ns').remove();
    for (const c of chains) assert.not.ok(natChains().has(c), `${c} removed`);
    assert.equal(ourLines(natTable().filter((l) => !natBefore.includes(l))), [], 'no rule left');
  });

  test('cleanup leaves nothing of the test on the host', async () => {
    await cleanup();
    assert.not.ok(linkExists(netw.bridge));
    assert.not.ok(linkExists(masqNet.bridge));
    assert.equal([...natChains()].filter((c) => !chainsBefore.has(c)), [], 'no iptables chains left behind');
    assert.not.ok(fs.existsSync(work));
  });
}

test.run();
