// CRI pods on a config dir's bridge + host-local + portmap network (critest's and kubelet setups' kind)
// run on the native driver: RunPodSandbox creates the pause while berth-netns sets up the namespace,
// the pause ends in that namespace with the address in its /etc/hosts, a port_mapping reaches the pod,
// and Stop/RemovePodSandbox leave no address, namespace, veth or nat chain (a second stop too).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, run, skip, tmpDir } from '../lib/harness.js';
import { criClient, endCriTest, startCriProcess, type CriClient, type CriProcess } from '../lib/cri.js';
import { BERTH_CHAIN, bridgePorts, httpdInNetns, linkExists, natChains, readSysctl, removePortmapChains, uniqueNetwork, wget, writeSysctl } from '../lib/network.js';

const ready = isRoot && fs.existsSync('/usr/sbin/iptables-restore');
const net = uniqueNetwork();
let base = '';
let srv: CriProcess | undefined;
let c: CriClient;
const chainsBefore = ready ? natChains() : new Set<string>();
const forwardBefore = ready ? readSysctl('net.ipv4.ip_forward') : '';
const hostPort = 20000 + Math.floor(Math.random() * 10000);
const children: ChildProcess[] = [];

const ipamDir = () => path.join(base, 'ipam', net.name);
const netnsFile = (pod: string) => path.join(base, 'state', 'netns', pod);
const record = (pod: string) => path.join(base, 'root', 'network', 'results', `${pod}.json`);

test.before(async () => {
  if (!ready) return;
  base = tmpDir('berth-cri-netnative-');
  const confDir = path.join(base, 'net.d');
  fs.mkdirSync(confDir);
  fs.writeFileSync(path.join(confDir, '10-test.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: net.name,
    plugins: [
      { type: 'bridge', bridge: net.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(base, 'ipam') } },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  }));
  srv = await startCriProcess({ root: path.join(base, 'root'), state: path.join(base, 'state'), socket: path.join(base, 'cri.sock'), extra: ['--cni-conf-dir', confDir] });
  c = criClient(srv.socket);
});

test.after(async () => {
  if (!ready) return;
  for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
  await endCriTest({ client: c, srv, base });
  for (let i = 0; i < 100 && linkExists(net.bridge) && bridgePorts(net.bridge).length; i++) await new Promise((r) => setTimeout(r, 50));
  if (linkExists(net.bridge)) run('ip', ['link', 'del', net.bridge]);
  removePortmapChains(chainsBefore);
  writeSysctl('net.ipv4.ip_forward', forwardBefore);
});

test('a pod on a conf-dir bridge network: native setup, the pause in its namespace, a port mapping, a clean removal', async () => {
  if (!ready) return skip('CRI pods on the native driver', 'needs root and iptables-restore');
  const pod = (await c.runtime('RunPodSandbox', { config: {
    metadata: { name: 'native', namespace: 'netnative', uid: 'uid-native', attempt: 0 }, hostname: 'native-pod',
    port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: hostPort }], linux: {},
  } })).pod_sandbox_id;
  const rec = JSON.parse(fs.readFileSync(record(pod), 'utf8'));
  assert.is(rec.driver, 'native', 'the conf-dir network ran natively');
  const status = (await c.runtime('PodSandboxStatus', { pod_sandbox_id: pod, verbose: true }));
  const ip = status.status.network.ip as string;
  assert.ok(ip.startsWith(net.prefix), `pod address ${ip} from ${net.subnet}`);
  assert.is(fs.readFileSync(path.join(ipamDir(), ip), 'utf8'), `${pod}\r\neth0`, "host-local's file names the pod");
  const pid = JSON.parse(status.info.info).pid as number;
  assert.ok(pid > 0, 'the pause runs');
  assert.is(fs.statSync(`/proc/${pid}/ns/net`).ino, fs.statSync(netnsFile(pod)).ino, 'the pause is in the pod namespace');
  assert.ok(fs.readFileSync(`/proc/${pid}/root/etc/hosts`, 'utf8').includes(`${ip}\tnative-pod`), 'the pause sees its address in /etc/hosts');

  const { child, direct } = await httpdInNetns(netnsFile(pod), path.join(base, 'www'), ip, 'native pod\n');
  children.push(child);
  assert.is(direct.stdout, 'native pod\n', `host -> pod IP: ${direct.stderr}`);
  assert.is(wget(`http://127.0.0.1:${hostPort}/index.html`).stdout, 'native pod\n', 'host -> 127.0.0.1:hostPort');
  child.kill('SIGKILL');

  const chains = rec.nat.chains as string[];
  assert.ok(chains.length && chains.every((x) => BERTH_CHAIN.test(x) && natChains().has(x)), 'the pod\'s nat chains exist');
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  assert.not.ok(fs.existsSync(path.join(ipamDir(), ip)), 'the address is released');
  assert.not.ok(fs.existsSync(netnsFile(pod)), 'the namespace is gone');
  for (const x of chains) assert.not.ok(natChains().has(x), `${x} removed`);
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  assert.not.ok(fs.existsSync(record(pod)), 'no network record left');
  assert.is((await c.runtime('ListPodSandbox', {})).items.length, 0);
});

test.run();
