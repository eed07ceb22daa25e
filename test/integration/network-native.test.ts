// The built-in bridge network run natively (berth-netns + host-local-compatible IPAM) on the real
// kernel: eth0 with its address and route as seen from inside, pods reach each other and the gateway,
// a published port reaches a pod, teardown leaves no veth/namespace/mount/address, concurrent setups
// (native and CNI on one network) never share an address, a failed or crashed setup leaves nothing,
// and BERTH_NET_DRIVER=cni still selects the plugins. The test leaves no trace on the host.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, tmpDir, run } from '../lib/harness.js';
import { NetworkManager, type NetworkSetup } from '../../engine/network/index.js';
import { RecordStore } from '../../engine/network/network-record.js';
import { BerthError } from '../../lib/errors.js';
import { nativeBinary } from '../../lib/paths.js';
import {
  missingCniPlugins, uniqueNetwork, natChains, natRules, readSysctl,
  inNetns, linkExists, bridgePorts, wget, httpdInNetns, linkGone, endNetworkTest,
} from '../lib/network.js';

const missing = isRoot ? missingCniPlugins() : [];
const reason = !isRoot ? 'needs root (network namespaces, bridges, iptables)' : missing.length ? `CNI plugins missing (portmap, and the CNI peers): ${missing.join(', ')}` : '';

if (reason) {
  skip('network-native', reason);
} else {
  const net = uniqueNetwork();
  const work = tmpDir('berth-netnat-');
  const netnsDir = path.join(work, 'netns');
  const dataDir = path.join(work, 'data');
  const ipamDir = path.join(dataDir, 'ipam', net.name);
  const webRoot = path.join(work, 'www');
  const chainsBefore = natChains();
  const forwardBefore = readSysctl('net.ipv4.ip_forward');
  const defaultNetwork = { name: net.name, bridge: net.bridge, subnet: net.subnet, ipMasq: false };
  const opts = { dataDir, netnsDir, confDir: path.join(work, 'no-such-dir'), defaultNetwork };
  const mgr = new NetworkManager({ ...opts, driver: 'auto' });
  const cni = new NetworkManager({ ...opts, driver: 'cni' });
  const records = new RecordStore(path.join(dataDir, 'results'));
  const hostPort = 20000 + Math.floor(Math.random() * 10000);
  const children: ChildProcess[] = [];
  const ids = ['a', 'b', 'p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'c0', 'c1', 'c2', 'crash', 'own', 'envcni', 'mixed'];
  let a: NetworkSetup | undefined;
  let b: NetworkSetup | undefined;

  const hostVeth = (s: NetworkSetup) => s.result.interfaces?.[1]?.name as string;
  const ipFiles = () => (fs.existsSync(ipamDir) ? fs.readdirSync(ipamDir).filter((f) => /^\d/.test(f)) : []);
  const mounted = (p: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${p} `);
  /** The pair dies with the namespace in the kernel's netns cleanup, a moment after teardown. */
  const gone = linkGone;
  const cleanup = () => endNetworkTest({ mgr, ids, children, bridge: net.bridge, chainsBefore, forwardBefore, work });
  test.after(cleanup);

  test('the built-in network is run natively; BERTH_NET_DRIVER=cni selects the plugins', () => {
    assert.is(mgr.driver, 'auto');
    assert.equal(mgr.networkReady(), { ready: true });
    const saved = process.env.BERTH_NET_DRIVER;
    try {
      process.env.BERTH_NET_DRIVER = 'cni';
      assert.is(new NetworkManager(opts).driver, 'cni');
      process.env.BERTH_NET_DRIVER = 'bogus';
      assert.throws(() => new NetworkManager(opts), (e: BerthError) => e.code === 'INVALID_ARGUMENT');
    } finally {
      if (saved === undefined) delete process.env.BERTH_NET_DRIVER; else process.env.BERTH_NET_DRIVER = saved;
    }
  });

  test('setup gives eth0 its address, MAC and default route, lo up, seen from inside', async () => {
    a = await mgr.setupNetwork({ id: 'a', portMappings: [{ hostPort, containerPort: 8080, protocol: 'TCP' }] });
    assert.is(records.read('a')?.driver, 'native');
    assert.is(a.netnsPath, path.join(netnsDir, 'a'));
    assert.ok(a.ip?.startsWith(net.prefix), `ip ${a.ip} in ${net.subnet}`);
    assert.is(a.gateway, `${net.prefix}1`);
    assert.equal(a.ips, [{ address: a.ip, prefixLength: 24, version: 4, gateway: `${net.prefix}1` }]);
    assert.is(a.interface.name, 'eth0');
    assert.match(hostVeth(a), /^veth[0-9a-f]{8}$/);
    assert.equal(a.portMappings, [{ hostPort, containerPort: 8080, protocol: 'tcp' }]);
    assert.equal(mgr.networkStatus('a'), a);

    const addrs = JSON.parse(inNetns(a.netnsPath, ['ip', '-j', 'addr']).stdout) as { ifname: string; operstate: string; flags: string[]; address: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];
    const eth0 = addrs.find((l) => l.ifname === 'eth0');
    assert.ok(eth0, 'eth0 inside');
    assert.is(eth0?.address, a.interface.mac);
    assert.ok(eth0?.flags.includes('UP'));
    assert.equal(eth0?.addr_info.filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`), [`${a.ip}/24`]);
    assert.ok(addrs.find((l) => l.ifname === 'lo')?.flags.includes('UP'), 'lo up');
    assert.equal(addrs.map((l) => l.ifname).sort(), ['eth0', 'lo'], 'nothing else inside');
    const routes = JSON.parse(inNetns(a.netnsPath, ['ip', '-j', 'route']).stdout) as { dst: string; gateway?: string; dev: string }[];
    assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === a?.gateway && r.dev === 'eth0'), JSON.stringify(routes));

    assert.equal(bridgePorts(net.bridge), [hostVeth(a)]);
    assert.match(run('ip', ['-d', 'link', 'show', hostVeth(a)]).stdout, /hairpin on/);
    assert.match(run('ip', ['-o', 'addr', 'show', 'dev', net.bridge]).stdout, new RegExp(`inet ${net.prefix.replace(/\./g, '\\.')}1/24`));
    assert.is(readSysctl('net.ipv4.ip_forward'), '1');
    // host-local's layout: the address file names the container and interface
    assert.is(fs.readFileSync(path.join(ipamDir, a.ip as string), 'utf8'), 'a\r\neth0');
    assert.is(fs.readFileSync(path.join(ipamDir, 'last_reserved_ip.0'), 'utf8'), a.ip);
  });

  test('two pods reach each other and the gateway', async () => {
    assert.ok(a);
    b = await mgr.setupNetwork({ id: 'b' });
    assert.is.not(b.ip, a.ip);
    for (const [from, to] of [[a, b.ip], [b, a.ip], [a, a.gateway], [b, '127.0.0.1']] as const) {
      const r = inNetns(from.netnsPath, ['busybox', 'ping', '-c', '1', '-W', '3', to as string]);
      assert.is(r.status, 0, `${from.id} pings ${to}: ${r.stdout}${r.stderr}`);
    }
    assert.is(run('busybox', ['ping', '-c', '1', '-W', '3', b.ip as string]).status, 0, 'the host pings pod B');
    await mgr.checkNetwork('b');
  });

  test('a published port reaches a listener in the pod (berth\'s own nat chains, no portmap)', async () => {
    assert.ok(a && b);
    const { child, direct } = await httpdInNetns(a.netnsPath, webRoot, a.ip as string, 'hello from native pod A\n');
    children.push(child);
    assert.is(direct.stdout, 'hello from native pod A\n', `host -> pod IP: ${direct.stderr}`);
    assert.is(wget(`http://127.0.0.1:${hostPort}/index.html`).stdout, 'hello from native pod A\n', 'host -> 127.0.0.1:hostPort');
    assert.is(wget(`http://${a.gateway}:${hostPort}/index.html`).stdout, 'hello from native pod A\n', 'host -> bridge address:hostPort');
    const fromB = inNetns(b.netnsPath, ['busybox', 'wget', '-q', '-O', '-', `http://${a.gateway}:${hostPort}/index.html`], 5000);
    assert.is(fromB.stdout, 'hello from native pod A\n', `pod B -> hostPort: ${fromB.stderr}`);
    assert.equal(records.read('a')?.nat?.chains.map((c) => c.slice(0, 9)), ['BERTH-DN-', 'BERTH-HM-'], 'the record names its chains');
    for (const c of records.read('a')?.nat?.chains ?? []) assert.ok(natChains().has(c), `${c} exists`);
    assert.ok(natRules('PREROUTING').some((l) => l.includes('berth:a')), 'PREROUTING jumps to pod A\'s chain');
    assert.is(readSysctl(`net.ipv4.conf.${net.bridge}.route_localnet`), '1', 'the bridge routes localhost, as portmap sets it');
    child.kill('SIGKILL');
  });

  test('teardown leaves no veth, namespace, mount, address or DNAT chain; twice is fine', async () => {
    assert.ok(a);
    const chains = records.read('a')?.nat?.chains ?? [];
    assert.is(chains.length, 2);
    await mgr.teardownNetwork('a');
    assert.not.ok(fs.existsSync(a.netnsPath), 'netns file removed');
    assert.not.ok(mounted(a.netnsPath), 'netns unmounted');
    assert.not.ok(fs.existsSync(path.join(ipamDir, a.ip as string)), 'IP released');
    for (const c of chains) assert.not.ok(natChains().has(c), `${c} removed`);
    assert.not.ok(['PREROUTING', 'OUTPUT', 'POSTROUTING'].some((t) => natRules(t).some((l) => l.includes('berth:a'))), 'no jump to them left');
    assert.ok(await gone(hostVeth(a)), 'host veth gone with the namespace');
    assert.equal(bridgePorts(net.bridge), [hostVeth(b as NetworkSetup)]);
    assert.throws(() => mgr.networkStatus('a'), (e: BerthError) => e.code === 'NOT_FOUND');
    await mgr.teardownNetwork('a');
    await mgr.teardownNetwork('never-set-up');
    await mgr.setupNetwork({ id: 'b' }).then(() => assert.unreachable('b attached twice'), (e: BerthError) => assert.is(e.code, 'ALREADY_EXISTS'));
  });

  test('concurrent setups, native and CNI on one network, never share an address', async () => {
    const native = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'].map((id) => mgr.setupNetwork({ id }));
    const plugin = ['c0', 'c1', 'c2'].map((id) => cni.setupNetwork({ id }));
    const got = await Promise.all([...native, ...plugin]);
    const ips = got.map((g) => g.ip);
    assert.is(new Set(ips).size, ips.length, `distinct: ${ips.join(' ')}`);
    assert.is(records.read('c0')?.driver, undefined, 'the CNI manager used the plugins');
    assert.is(ipFiles().length, ips.length + 1, 'one file per address (and pod B)');
    const r = inNetns(got[0].netnsPath, ['busybox', 'ping', '-c', '1', '-W', '3', got[8].ip as string]);
    assert.is(r.status, 0, `a native pod reaches a CNI pod: ${r.stdout}${r.stderr}`);
    // each record is torn down by the driver that made it, whichever manager is asked
    await Promise.all(['p0', 'p1', 'p2', 'c0', 'c1', 'c2'].map((id) => mgr.teardownNetwork(id)));
    await Promise.all(['p3', 'p4', 'p5'].map((id) => cni.teardownNetwork(id)));
    assert.equal(ipFiles(), [b?.ip], 'only pod B holds an address');
    for (const g of got) assert.not.ok(fs.existsSync(g.netnsPath));
  });

  test('a failed setup undoes itself: no namespace, mount, veth, address or record', async () => {
    const broken = new NetworkManager({ ...opts, driver: 'auto', defaultNetwork: { ...defaultNetwork, bridge: 'lo' } });
    try {
      await broken.setupNetwork({ id: 'crash' });
      assert.unreachable('setup on a non-bridge succeeded');
    } catch (e) {
      assert.instance(e, BerthError);
      assert.match((e as Error).message, /native bridge network ADD for crash: lo exists and is not a bridge/);
    }
    assert.not.ok(fs.existsSync(path.join(netnsDir, 'crash')));
    assert.not.ok(mounted(path.join(netnsDir, 'crash')));
    assert.not.ok(broken.list().includes('crash'), 'no record');
    assert.equal(ipFiles(), [b?.ip], 'address released');
  });

  test('berth-netns undoes its own steps when a late one fails (the route, after the pair exists)', () => {
    const file = path.join(netnsDir, 'late-fail');
    const veth = `vethf${net.bridge.slice(3)}`;
    mgr.netns.prepare('late-fail');
    // a gateway outside the pod's subnet: the default route is refused after the pair is made
    const r = run(nativeBinary('berth-netns'), ['add', '--netns', file, '--create', '--bridge', net.bridge, '--gateway', `${net.prefix}1`,
      '--address', '10.99.254.5', '--prefix', '24', '--host-veth', veth]);
    assert.is(r.status, 1);
    assert.is(r.stderr, `berth-netns: adding the default route via ${net.prefix}1: Network is unreachable\n`);
    assert.is(r.stdout, '');
    assert.not.ok(linkExists(veth), 'pair deleted');
    assert.not.ok(fs.existsSync(file), 'namespace file removed');
    assert.not.ok(mounted(file), 'namespace unmounted');
  });

  test('a setup interrupted after the exec (record still "adding") is cleaned by teardown', async () => {
    const c = await mgr.setupNetwork({ id: 'crash' });
    const rec = records.read('crash');
    assert.ok(rec);
    // what a crash between berth-netns and the final record write leaves
    await records.write({ ...rec, phase: 'adding', result: undefined, loopback: undefined } as typeof rec);
    assert.throws(() => mgr.networkStatus('crash'), (e: BerthError) => e.code === 'NOT_FOUND');
    await mgr.teardownNetwork('crash');
    assert.not.ok(fs.existsSync(c.netnsPath));
    assert.not.ok(mounted(c.netnsPath));
    assert.ok(await gone(hostVeth(c)));
    assert.equal(ipFiles(), [b?.ip]);
    assert.not.ok(mgr.list().includes('crash'));
  });

  test('CHECK passes on a healthy pod and reports a missing interface', async () => {
    const c = await mgr.setupNetwork({ id: 'crash' });
    await mgr.checkNetwork('crash');
    assert.is(inNetns(c.netnsPath, ['ip', 'link', 'del', 'eth0']).status, 0);
    const drifted = await mgr.checkNetwork('crash').then(() => undefined, (e: BerthError) => e);
    await mgr.teardownNetwork('crash');
    assert.ok(drifted, 'CHECK passed without eth0');
    assert.is(drifted.code, 'FAILED_PRECONDITION');
    // deleting eth0 takes its host end with it: that is what CHECK meets first
    assert.match(drifted.message, /CHECK for crash failed: host interface veth[0-9a-f]{8}: No such device/, drifted.message);
  });

  test('a caller-owned namespace is joined; teardown deletes the pair and leaves the namespace', async () => {
    const own = mgr.netnsFor('own-ns');
    const p = own.create();
    const f = await mgr.setupNetwork({ id: 'own', netnsPath: p });
    assert.is(f.netnsPath, p);
    assert.match(inNetns(p, ['ip', '-o', 'addr', 'show', 'eth0']).stdout, new RegExp(`inet ${(f.ip as string).replace(/\./g, '\\.')}/24`));
    await mgr.teardownNetwork('own');
    assert.ok(own.exists(), 'caller namespace kept');
    assert.not.ok(linkExists(hostVeth(f)), 'pair deleted at once');
    assert.is(inNetns(p, ['ip', 'link', 'show', 'eth0']).status === 0, false, 'eth0 gone from it');
    own.remove();
  });

  test('a record made natively is torn down natively under BERTH_NET_DRIVER=cni', async () => {
    const m = await mgr.setupNetwork({ id: 'mixed' });
    await cni.teardownNetwork('mixed');
    assert.not.ok(fs.existsSync(m.netnsPath));
    assert.equal(ipFiles(), [b?.ip]);
  });

  test('pod B torn down: nothing left in the netns dir or the IPAM store', async () => {
    await mgr.teardownNetwork('b');
    assert.equal(mgr.netns.list(), []);
    assert.equal(ipFiles(), []);
    assert.equal(mgr.list(), []);
  });

  test('cleanup leaves nothing of the test on the host', async () => {
    await cleanup();
    assert.not.ok(linkExists(net.bridge), 'bridge removed');
    assert.equal([...natChains()].filter((c) => !chainsBefore.has(c)), [], 'no iptables chains left behind');
    assert.not.ok(fs.existsSync(work));
    assert.not.ok(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(netnsDir), 'no netns mounts left');
  });
}

test.run();
