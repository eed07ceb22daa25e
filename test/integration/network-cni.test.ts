// CNI pod networking on the real kernel: two berth netns on a test bridge reach each other, the host
// reaches a pod, a hostPort maps to a pod, DEL frees everything, and the test leaves no trace.
// driver 'cni': the built-in network through the plugins (network-native.test.ts runs it natively).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, tmpDir, run } from '../lib/harness.js';
import { NetworkManager, loopbackConfList, type NetworkSetup } from '../../engine/network/index.js';
import { BerthError } from '../../lib/errors.js';
import {
  missingCniPlugins, uniqueNetwork, natChains, natRules, removePortmapChains, readSysctl, writeSysctl,
  inNetns, linkExists, bridgePorts, wget, httpdInNetns,
} from '../lib/network.js';

const missing = isRoot ? missingCniPlugins() : [];
const reason = !isRoot ? 'needs root (network namespaces, bridges, iptables)' : missing.length ? `CNI plugins missing: ${missing.join(', ')}` : '';

if (reason) {
  skip('network-cni', reason);
} else {
  const net = uniqueNetwork();
  const work = tmpDir('berth-net-');
  const netnsDir = path.join(work, 'netns');
  const dataDir = path.join(work, 'data');
  const webRoot = path.join(work, 'www');
  const chainsBefore = natChains();
  const forwardBefore = readSysctl('net.ipv4.ip_forward');
  const mgr = new NetworkManager({
    dataDir, netnsDir, confDir: path.join(work, 'no-such-dir'),
    defaultNetwork: { name: net.name, bridge: net.bridge, subnet: net.subnet, ipMasq: false }, driver: 'cni',
  });
  const hostPort = 20000 + Math.floor(Math.random() * 10000);
  const children: ChildProcess[] = [];
  let a: NetworkSetup | undefined;
  let b: NetworkSetup | undefined;
  const idA = `a-${net.bridge}`;
  const idB = `b-${net.bridge}`;

  const cleanup = async () => {
    for (const c of children.splice(0)) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const id of [idA, idB, 'c-fail', 'd-gone', 'e-drift', 'p1', 'p2', 'p3', 'p4', 'f-ext']) await mgr.teardownNetwork(id).catch((e) => console.error('teardown', id, e));
    for (const id of mgr.netns.list()) mgr.netns.remove(id);
    if (linkExists(net.bridge)) run('ip', ['link', 'del', net.bridge]);
    removePortmapChains(chainsBefore);
    writeSysctl('net.ipv4.ip_forward', forwardBefore);
    mgr.netns.releaseDir();
    fs.rmSync(work, { recursive: true, force: true });
  };
  test.after(cleanup);

  test('NetworkReady reflects config and plugins', () => {
    assert.equal(mgr.networkReady(), { ready: true });
    const none = new NetworkManager({ dataDir, netnsDir, confDir: path.join(work, 'no-such-dir'), defaultNetwork: false, driver: 'cni' });
    const r = none.networkReady();
    assert.is(r.ready, false);
    assert.match(r.message ?? '', /no CNI network config found/);
    const noPlugins = new NetworkManager({ dataDir, netnsDir, cniPath: [path.join(work, 'empty')], confDir: path.join(work, 'no-such-dir'), driver: 'cni' });
    assert.match(noPlugins.networkReady().message ?? '', /CNI plugins not found .*bridge, portmap, loopback/);
  });

  test('two pods on the bridge get addresses in the subnet and reach each other', async () => {
    a = await mgr.setupNetwork({ id: idA, portMappings: [{ hostPort, containerPort: 8080, protocol: 'TCP' }] });
    b = await mgr.setupNetwork({ id: idB });
    assert.is(a.netnsPath, path.join(netnsDir, idA));
    assert.ok(a.ip?.startsWith(net.prefix), `pod A ip ${a.ip} in ${net.subnet}`);
    assert.ok(b.ip?.startsWith(net.prefix), `pod B ip ${b.ip} in ${net.subnet}`);
    assert.is.not(a.ip, b.ip);
    assert.is(a.gateway, `${net.prefix}1`);
    assert.is(a.interface.name, 'eth0');
    assert.match(a.interface.mac ?? '', /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(a.portMappings, [{ hostPort, containerPort: 8080, protocol: 'tcp' }]);
    assert.equal(mgr.networkStatus(idA).ips, a.ips);
    assert.is(bridgePorts(net.bridge).length, 2);
    // IPAM state lives in our data dir, one file per allocated address.
    assert.ok(fs.existsSync(path.join(dataDir, 'ipam', net.name, a.ip as string)));

    const ab = inNetns(a.netnsPath, ['busybox', 'ping', '-c', '1', '-W', '3', b.ip as string]);
    assert.is(ab.status, 0, `A pings B: ${ab.stdout}${ab.stderr}`);
    const ba = inNetns(b.netnsPath, ['busybox', 'ping', '-c', '1', '-W', '3', a.ip as string]);
    assert.is(ba.status, 0, `B pings A: ${ba.stdout}${ba.stderr}`);
    const lo = inNetns(a.netnsPath, ['busybox', 'ping', '-c', '1', '-W', '2', '127.0.0.1']);
    assert.is(lo.status, 0, 'loopback is up inside the pod');
    // CHECK on A (with a hostPort) would hit containernetworking/plugins#819 in Debian's portmap
    // (it looks for IPv6 rules an IPv4-only ADD never made); B has no hostPort.
    await mgr.checkNetwork(idB);
  });

  test('the host reaches a listener in the pod, directly and through the hostPort', async () => {
    assert.ok(a);
    const { child, direct } = await httpdInNetns(a.netnsPath, webRoot, a.ip as string, 'hello from pod A\n');
    children.push(child);
    assert.is(direct.stdout, 'hello from pod A\n', `host -> pod IP: ${direct.stderr}`);
    const viaBridge = wget(`http://${a.gateway}:${hostPort}/index.html`);
    assert.is(viaBridge.stdout, 'hello from pod A\n', `host -> bridge address hostPort: ${viaBridge.stderr}`);
    // portmap (snat on) sets route_localnet on the bridge, so the loopback address works too.
    const viaLoopback = wget(`http://127.0.0.1:${hostPort}/index.html`);
    assert.is(viaLoopback.stdout, 'hello from pod A\n', `host -> 127.0.0.1 hostPort: ${viaLoopback.stderr}`);
    const fromB = inNetns((b as NetworkSetup).netnsPath, ['busybox', 'wget', '-q', '-O', '-', `http://${a.gateway}:${hostPort}/index.html`], 5000);
    assert.is(fromB.stdout, 'hello from pod A\n', `pod B -> hostPort: ${fromB.stderr}`);
    assert.ok(natRules('CNI-HOSTPORT-DNAT').some((l) => l.includes('CNI-DN-')), 'portmap installed its DNAT chain');
    child.kill('SIGKILL');
  });

  test('teardown removes the veth, the address, the DNAT chain and the netns; twice is fine', async () => {
    assert.ok(a);
    const dnBefore = [...natChains()].filter((c) => c.startsWith('CNI-DN-')).length;
    await mgr.teardownNetwork(idA);
    assert.is(bridgePorts(net.bridge).length, 1, 'one veth left (pod B)');
    assert.not.ok(fs.existsSync(path.join(dataDir, 'ipam', net.name, a.ip as string)), 'IP released');
    assert.not.ok(fs.existsSync(a.netnsPath), 'netns bind mount removed');
    assert.is([...natChains()].filter((c) => c.startsWith('CNI-DN-')).length, dnBefore - 1, 'DNAT chain removed');
    assert.throws(() => mgr.networkStatus(idA), (e: BerthError) => e.code === 'NOT_FOUND');
    await mgr.teardownNetwork(idA);
    await mgr.teardownNetwork('never-set-up');
  });

  test('setting up an attached id again is refused', async () => {
    try {
      await mgr.setupNetwork({ id: idB });
      assert.unreachable('second setup succeeded');
    } catch (e) {
      assert.is((e as BerthError).code, 'ALREADY_EXISTS');
    }
  });

  test('DEL still releases the address when the namespace vanished first', async () => {
    const d = await mgr.setupNetwork({ id: 'd-gone' });
    mgr.netnsFor('d-gone').remove();
    await mgr.teardownNetwork('d-gone');
    assert.not.ok(fs.existsSync(path.join(dataDir, 'ipam', net.name, d.ip as string)));
    assert.is(mgr.list().includes('d-gone'), false);
  });

  test('a plugin failure is a typed error and leaves nothing behind', async () => {
    const bad = new NetworkManager({
      dataDir, netnsDir,
      confList: {
        cniVersion: '1.0.0', name: `${net.name}-bad`,
        plugins: [{ type: 'bridge', bridge: net.bridge, ipam: { type: 'host-local', ranges: [[{ subnet: 'not-a-cidr' }]], dataDir } }],
      },
    });
    try {
      await bad.setupNetwork({ id: 'c-fail' });
      assert.unreachable('ADD with a broken config succeeded');
    } catch (e) {
      assert.instance(e, BerthError);
      assert.match((e as Error).message, /CNI plugin (bridge|host-local) ADD for c-fail failed: .*not-a-cidr/);
    }
    assert.not.ok(fs.existsSync(path.join(netnsDir, 'c-fail')), 'netns removed after failed ADD');
    assert.not.ok(bad.list().includes('c-fail'), 'no record left');
  });

  test('CHECK reports a pod whose interface disappeared', async () => {
    const e = await mgr.setupNetwork({ id: 'e-drift' });
    assert.is(inNetns(e.netnsPath, ['ip', 'link', 'del', 'eth0']).status, 0);
    try {
      await mgr.checkNetwork('e-drift');
      assert.unreachable('CHECK passed without eth0');
    } catch (err) {
      assert.match((err as Error).message, /CNI plugin \w+ CHECK for e-drift failed/);
    }
    await mgr.teardownNetwork('e-drift');
    assert.not.ok(mgr.list().includes('e-drift'));
  });

  test('concurrent setups get distinct addresses; pod metadata in CNI_ARGS is accepted', async () => {
    const ids = ['p1', 'p2', 'p3'];
    const got = await Promise.all(ids.map((id) => mgr.setupNetwork({ id, args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: id } })));
    assert.is(new Set(got.map((g) => g.ip)).size, 3);
    // The same id twice at once: one wins, the other is told it is attached.
    const twice = await Promise.allSettled([mgr.setupNetwork({ id: 'p4' }), mgr.setupNetwork({ id: 'p4' })]);
    assert.equal(twice.map((t) => t.status).sort(), ['fulfilled', 'rejected']);
    await Promise.all([...ids, 'p4'].map((id) => mgr.teardownNetwork(id)));
    assert.is(bridgePorts(net.bridge).length, 1, 'only pod B left');
  });

  test('a caller-owned namespace is joined and left in place at teardown', async () => {
    const own = mgr.netnsFor('f-own');
    const p = own.create();
    const f = await mgr.setupNetwork({ id: 'f-ext', netnsPath: p });
    assert.is(f.netnsPath, p);
    assert.match(inNetns(p, ['ip', '-o', 'addr', 'show', 'eth0']).stdout, new RegExp(`inet ${(f.ip as string).replace(/\./g, '\\.')}/24`));
    await mgr.teardownNetwork('f-ext');
    assert.ok(own.exists(), 'caller namespace kept');
    assert.is(inNetns(p, ['ip', 'link', 'show', 'eth0']).status === 0, false, 'eth0 gone from it');
    own.remove();
    assert.not.ok(own.exists());
    await mgr.setupNetwork({ id: 'f-ext', netnsPath: path.join(work, 'missing') }).then(
      () => assert.unreachable(), (e: BerthError) => assert.is(e.code, 'NOT_FOUND'));
  });

  test('a loopback-only network: lo is up, the pod has no IP', async () => {
    const lo = new NetworkManager({ dataDir, netnsDir, confList: loopbackConfList() });
    const g = await lo.setupNetwork({ id: 'g-lo' });
    assert.is(g.ip, undefined);
    assert.equal(g.ips, []);
    assert.is(inNetns(g.netnsPath, ['busybox', 'ping', '-c', '1', '-W', '2', '127.0.0.1']).status, 0);
    await lo.teardownNetwork('g-lo');
    assert.not.ok(fs.existsSync(g.netnsPath));
  });

  test('pod B torn down, the netns dir is empty', async () => {
    await mgr.teardownNetwork(idB);
    assert.is(bridgePorts(net.bridge).length, 0);
    assert.equal(mgr.netns.list(), []);
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
