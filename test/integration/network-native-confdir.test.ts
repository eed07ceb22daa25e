// A config dir's bridge + host-local + portmap network (the kind critest and kubelet setups use) is run
// natively, with what the plugins would leave: the same bridge and gateway address, host-local's files
// in the network's own IPAM dir, eth0 with its address and default route, the published port reachable,
// and a DEL that releases everything and may be repeated. The same conflist through the plugins
// (driver 'cni') on the same bridge and address pool is the reference. A network the driver would not
// reproduce exactly (here: no default route) stays on the plugins. The test leaves no trace on the host.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, tmpDir, run } from '../lib/harness.js';
import { NetworkManager, type NetworkSetup } from '../../engine/network/index.js';
import { RecordStore } from '../../engine/network/network-record.js';
import {
  missingCniPlugins, uniqueNetwork, natChains, readSysctl,
  inNetns, bridgePorts, wget, httpdInNetns, BERTH_CHAIN, linkGone, endNetworkTest,
} from '../lib/network.js';

const missing = isRoot ? missingCniPlugins() : [];
const reason = !isRoot ? 'needs root (network namespaces, bridges, iptables)' : missing.length ? `CNI plugins missing: ${missing.join(', ')}` : '';

if (reason) {
  skip('network-native-confdir', reason);
} else {
  const net = uniqueNetwork();
  const work = tmpDir('berth-netconf-');
  const netnsDir = path.join(work, 'netns');
  const dataDir = path.join(work, 'data');
  const ipamData = path.join(work, 'ipam');
  const ipamDir = path.join(ipamData, net.name);
  const chainsBefore = natChains();
  const forwardBefore = readSysctl('net.ipv4.ip_forward');
  const confList = (routes?: unknown) => ({
    cniVersion: '1.0.0', name: net.name,
    plugins: [
      { type: 'bridge', bridge: net.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], ...(routes ? { routes } : {}), dataDir: ipamData } },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  });
  const confDir = path.join(work, 'net.d');
  fs.mkdirSync(confDir);
  fs.writeFileSync(path.join(confDir, '10-test.conflist'), JSON.stringify(confList([{ dst: '0.0.0.0/0' }])));
  const noRouteDir = path.join(work, 'net.d-noroute');
  fs.mkdirSync(noRouteDir);
  fs.writeFileSync(path.join(noRouteDir, '10-test.conflist'), JSON.stringify(confList()));
  const opts = { dataDir, netnsDir, confDir };
  const native = new NetworkManager({ ...opts, driver: 'auto' });
  const cni = new NetworkManager({ ...opts, driver: 'cni' });
  const noRoute = new NetworkManager({ ...opts, confDir: noRouteDir, driver: 'auto' });
  const records = new RecordStore(path.join(dataDir, 'results'));
  const port0 = 20000 + Math.floor(Math.random() * 10000);
  const children: ChildProcess[] = [];
  const ids = ['n', 'c', 'r'];

  const ipFiles = () => (fs.existsSync(ipamDir) ? fs.readdirSync(ipamDir).filter((f) => /^\d/.test(f)).sort() : []);
  /** What a pod sees and what the host holds for it: to compare the two drivers. */
  function observed(s: NetworkSetup) {
    const addrs = JSON.parse(inNetns(s.netnsPath, ['ip', '-j', 'addr']).stdout) as { ifname: string; flags: string[]; addr_info: { family: string; local: string; prefixlen: number }[] }[];
    const routes = JSON.parse(inNetns(s.netnsPath, ['ip', '-j', 'route']).stdout) as { dst: string; gateway?: string; dev: string }[];
    return {
      links: addrs.map((l) => `${l.ifname}:${l.flags.includes('UP') ? 'up' : 'down'}:${l.addr_info.filter((x) => x.family === 'inet').map((x) => `${x.local === s.ip ? 'POD' : x.local}/${x.prefixlen}`).join(',')}`).sort(),
      routes: routes.map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev}`).sort(),
      gateway: s.gateway,
      ipamFile: fs.readFileSync(path.join(ipamDir, s.ip as string), 'utf8').replace(s.id, 'ID'),
      hostVethOnBridge: bridgePorts(net.bridge).includes(s.result.interfaces?.[1]?.name as string),
      hairpin: /hairpin on/.test(run('ip', ['-d', 'link', 'show', s.result.interfaces?.[1]?.name as string]).stdout),
    };
  }

  test.after(() => endNetworkTest({ mgr: native, ids, children, bridge: net.bridge, chainsBefore, forwardBefore, work }));

  test('the same conflist natively and through the plugins: the same bridge, addresses, routes and IPAM files', async () => {
    const c = await cni.setupNetwork({ id: 'c', portMappings: [{ hostPort: port0 + 1, containerPort: 8080 }] });
    const n = await native.setupNetwork({ id: 'n', portMappings: [{ hostPort: port0, containerPort: 8080 }] });
    assert.is(records.read('n')?.driver, 'native', 'the conf-dir network runs natively');
    assert.is(records.read('c')?.driver, undefined, 'driver cni used the plugins');
    assert.is.not(n.ip, c.ip, 'one address pool');
    assert.ok(n.ip?.startsWith(net.prefix));
    assert.equal(n.ips, c.ips.map((x) => ({ ...x, address: n.ip })), 'same prefix and gateway');
    assert.equal(observed(n), observed(c));
    assert.equal(observed(n).routes, [`${net.prefix}0/24 via - dev eth0`, `default via ${net.prefix}1 dev eth0`]);
    assert.is(observed(n).ipamFile, 'ID\r\neth0');
    assert.equal(ipFiles(), [c.ip, n.ip].sort());
    assert.match(run('ip', ['-o', 'addr', 'show', 'dev', net.bridge]).stdout, new RegExp(`inet ${net.prefix.replace(/\./g, '\\.')}1/24`));
    assert.equal(n.portMappings, [{ hostPort: port0, containerPort: 8080, protocol: 'tcp' }]);
  });

  test('the published port reaches the natively set up pod, from the host and over the bridge', async () => {
    const n = native.networkStatus('n');
    const { child, direct } = await httpdInNetns(n.netnsPath, path.join(work, 'www'), n.ip as string, 'native conf-dir pod\n');
    children.push(child);
    assert.is(direct.stdout, 'native conf-dir pod\n', `host -> pod IP: ${direct.stderr}`);
    assert.is(wget(`http://127.0.0.1:${port0}/index.html`).stdout, 'native conf-dir pod\n', 'host -> 127.0.0.1:hostPort');
    assert.is(wget(`http://${n.gateway}:${port0}/index.html`).stdout, 'native conf-dir pod\n', 'host -> bridge address:hostPort');
    child.kill('SIGKILL');
  });

  test('DEL releases the address, namespace, veth and nat chains, and may be repeated', async () => {
    const n = native.networkStatus('n');
    const veth = n.result.interfaces?.[1]?.name as string;
    const chains = records.read('n')?.nat?.chains ?? [];
    assert.ok(chains.length && chains.every((x) => BERTH_CHAIN.test(x) && natChains().has(x)), 'the pod\'s nat chains exist');
    await native.teardownNetwork('n');
    await native.teardownNetwork('n');
    assert.not.ok(ipFiles().includes(n.ip as string), 'the address is released');
    assert.not.ok(fs.existsSync(n.netnsPath), 'the namespace is gone');
    assert.ok(await linkGone(veth), 'the veth pair is gone');
    for (const x of chains) assert.not.ok(natChains().has(x), `${x} removed`);
    assert.is(records.read('n'), undefined);
    // the plugins' pod, torn down by whichever manager is asked (the record says how it was made)
    await native.teardownNetwork('c');
    assert.equal(ipFiles(), []);
  });

  test('a network the driver would not reproduce exactly (no default route) stays on the plugins', async () => {
    const r = await noRoute.setupNetwork({ id: 'r' });
    assert.is(records.read('r')?.driver, undefined);
    assert.not.ok(observed(r).routes.some((x) => x.startsWith('default')), 'the plugins add no default route here');
    await noRoute.teardownNetwork('r');
    assert.equal(ipFiles(), []);
  });

  test.run();
}
