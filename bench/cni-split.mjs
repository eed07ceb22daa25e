// Where a container's bridge network setup and teardown spend their time (what `docker run` through
// berth's Docker API pays for the default network): the namespace, then each CNI plugin exec as the
// engine runs them (loopback; bridge, which itself execs host-local; portmap), then DEL in reverse.
// host-local is also run on its own to split bridge's share. Then the built-in network through
// NetworkManager both ways, interleaved: native (berth-netns + Node IPAM) and BERTH_NET_DRIVER=cni,
// without and with a published port (native: berth's own nat chains, one iptables-restore each way;
// CNI: portmap). A test-only bridge and subnet; the host is put back
// afterwards (bridge link, portmap chains, ip_forward).
//   node --import tsx bench/cni-split.mjs [runs]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { median } from './lib.mjs';
import { execPlugin } from '../engine/network/cni-exec.ts';
import { DEFAULT_CNI_PATH } from '../engine/network/cni-config.ts';
import { NetnsStore } from '../engine/network/netns.ts';
import { NetworkManager } from '../engine/network/index.ts';
import { natChains, readSysctl, removePortmapChains, uniqueNetwork, writeSysctl } from '../test/lib/network.ts';

const RUNS = Number(process.argv[2] ?? 20);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cni-'));
const netw = uniqueNetwork();
const chainsBefore = natChains();
const forwardBefore = readSysctl('net.ipv4.ip_forward');
const ipam = { type: 'host-local', ranges: [[{ subnet: netw.subnet }]], dataDir: path.join(dir, 'ipam') };
const bridge = { type: 'bridge', bridge: netw.bridge, isGateway: true, ipMasq: false, hairpinMode: true, ipam };
const portmap = { type: 'portmap', capabilities: { portMappings: true }, snat: true };
const conf = (p, prevResult) => ({ ...p, cniVersion: '1.0.0', name: netw.name, ...(prevResult ? { prevResult } : {}) });
const store = new NetnsStore(path.join(dir, 'netns'));
const call = (command, id, netns, ifName = 'eth0') => ({ command, containerId: id, netns, ifName, cniPath: DEFAULT_CNI_PATH, timeoutMs: 30_000 });
const builtinOpts = { dataDir: path.join(dir, 'builtin'), netnsDir: path.join(dir, 'netns'), confDir: path.join(dir, 'none'), defaultNetwork: { name: netw.name, bridge: netw.bridge, subnet: netw.subnet } };
const builtin = { native: new NetworkManager({ ...builtinOpts, driver: 'auto' }), cni: new NetworkManager({ ...builtinOpts, driver: 'cni' }) };
const t = {};
const timed = async (k, fn) => { const t0 = process.hrtime.bigint(); const r = await fn(); (t[k] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6); return r; };

try {
  for (let i = 0; i < RUNS + 2; i++) {
    const id = `bench-${i}`;
    const ns = await timed('netns create (unshare)', () => store.create(id));
    await timed('ADD loopback', () => execPlugin('loopback', conf({ type: 'loopback' }), call('ADD', id, ns, 'lo')));
    const br = await timed('ADD bridge (incl. host-local)', () => execPlugin('bridge', conf(bridge), call('ADD', id, ns)));
    await timed('ADD portmap (no ports)', () => execPlugin('portmap', conf(portmap, br), call('ADD', id, ns)));
    await timed('DEL portmap (no ports)', () => execPlugin('portmap', conf(portmap, br), call('DEL', id, ns)));
    await timed('DEL bridge (incl. host-local)', () => execPlugin('bridge', conf(bridge, br), call('DEL', id, ns)));
    await timed('DEL loopback', () => execPlugin('loopback', conf({ type: 'loopback' }), call('DEL', id, ns, 'lo')));
    await timed('netns remove', () => store.remove(id));
    // host-local alone, as bridge runs it (ADD then DEL of one address)
    await timed('host-local ADD alone', () => execPlugin('host-local', conf({ type: 'bridge', ipam }), call('ADD', `hl-${i}`, '/proc/self/ns/net')));
    await timed('host-local DEL alone', () => execPlugin('host-local', conf({ type: 'bridge', ipam }), call('DEL', `hl-${i}`, '/proc/self/ns/net')));
    // the whole thing as the engine does it
    const nm = new NetworkManager({ dataDir: path.join(dir, 'nm'), netnsDir: path.join(dir, 'netns'), confList: { cniVersion: '1.0.0', name: netw.name, plugins: [bridge, portmap] } });
    await timed('NetworkManager setupNetwork (total)', () => nm.setupNetwork({ id: `nm-${i}` }));
    await timed('NetworkManager teardownNetwork (total)', () => nm.teardownNetwork(`nm-${i}`));
    // the built-in network, native and CNI drivers side by side (same bridge, same IPAM store)
    for (const [driver, mgr] of Object.entries(builtin)) {
      await timed(`built-in ${driver} setup`, () => mgr.setupNetwork({ id: `${driver}-${i}` }));
      await timed(`built-in ${driver} teardown`, () => mgr.teardownNetwork(`${driver}-${i}`));
      const ports = [{ hostPort: 20000 + (process.pid % 20000) + i, containerPort: 80 }];
      await timed(`built-in ${driver} setup -p`, () => mgr.setupNetwork({ id: `${driver}-p${i}`, portMappings: ports }));
      await timed(`built-in ${driver} teardown -p`, () => mgr.teardownNetwork(`${driver}-p${i}`));
    }
  }
  // the first two rounds are warm-up (page cache, the bridge device's creation)
  for (const [k, xs] of Object.entries(t)) console.log(`${k.padEnd(40)} median ${median(xs.slice(2)).toFixed(1)} ms  (min ${Math.min(...xs.slice(2)).toFixed(1)}, n=${xs.length - 2})`);
  const m = (k) => median(t[k].slice(2));
  for (const k of ['setup', 'teardown', 'setup -p', 'teardown -p']) console.log(`${`native / cni, ${k}`.padEnd(40)} ${(m(`built-in native ${k}`) / m(`built-in cni ${k}`)).toFixed(2)}`);
  console.log(`${'native / cni, setup + teardown'.padEnd(40)} ${((m('built-in native setup') + m('built-in native teardown')) / (m('built-in cni setup') + m('built-in cni teardown'))).toFixed(2)}`);
  console.log(`${'sum of the steps, setup + teardown'.padEnd(40)} ${(['netns create (unshare)', 'ADD loopback', 'ADD bridge (incl. host-local)', 'ADD portmap (no ports)', 'DEL portmap (no ports)', 'DEL bridge (incl. host-local)', 'DEL loopback', 'netns remove'].reduce((a, k) => a + m(k), 0)).toFixed(1)} ms`);
} finally {
  spawnSync('umount', ['-l', path.join(dir, 'netns')], { stdio: 'ignore' });
  spawnSync('ip', ['link', 'del', netw.bridge], { stdio: 'ignore' });
  removePortmapChains(chainsBefore);
  writeSysctl('net.ipv4.ip_forward', forwardBefore);
  fs.rmSync(dir, { recursive: true, force: true });
}
