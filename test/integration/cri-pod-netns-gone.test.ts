// A pod whose network namespace file is no namespace any more (its bind mount lost to a crash or an
// unmount, or the file gone with /run after a reboot) still stops and is removed through CRI: CNI
// DEL runs without a namespace (the CNI spec requires plugins to accept that), which releases the
// pod's address in host-local IPAM, and nothing of the pod is left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, run, skip, tmpDir } from '../lib/harness.js';
import { haveRegistry, type TestRegistry } from '../lib/registry.js';
import { criClient, endCriTest, registryWithBusybox, startCriProcess, type CriClient, type CriProcess } from '../lib/cri.js';
import { linkExists, missingCniPlugins, uniqueNetwork } from '../lib/network.js';

const ready = isRoot && haveRegistry() && fs.existsSync('/usr/bin/skopeo') && missingCniPlugins().length === 0;
const net = uniqueNetwork();
let base = '';
let reg: TestRegistry | undefined;
let srv: CriProcess | undefined;
let c: CriClient;

const ipamDir = () => path.join(base, 'ipam', net.name);
const netnsFile = (pod: string) => path.join(base, 'state', 'netns', pod);
const isMountPoint = (p: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);

async function runPod(name: string): Promise<{ pod: string; ip: string }> {
  const pod = (await c.runtime('RunPodSandbox', { config: { metadata: { name, namespace: 'gone', uid: `uid-${name}`, attempt: 0 }, linux: {} } })).pod_sandbox_id;
  const ip = (await c.runtime('PodSandboxStatus', { pod_sandbox_id: pod })).status.network.ip;
  assert.ok(ip.startsWith(net.prefix), `pod address ${ip} from ${net.subnet}`);
  assert.ok(fs.existsSync(path.join(ipamDir(), ip)), 'host-local holds the address');
  assert.ok(isMountPoint(netnsFile(pod)), 'the namespace is a bind mount');
  return { pod, ip };
}

function assertGone(pod: string, ip: string): void {
  assert.not.ok(fs.existsSync(path.join(ipamDir(), ip)), 'the address is released');
  assert.not.ok(fs.existsSync(netnsFile(pod)), 'the namespace file is removed');
  assert.not.ok(fs.existsSync(path.join(base, 'root', 'network', 'results', `${pod}.json`)), 'no network record left');
}

test.before(async () => {
  if (!ready) return;
  base = tmpDir('berth-cri-netns-gone-');
  const confDir = path.join(base, 'net.d');
  fs.mkdirSync(confDir);
  fs.writeFileSync(path.join(confDir, '10-test.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: net.name,
    plugins: [{ type: 'bridge', bridge: net.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], dataDir: path.join(base, 'ipam') } }],
  }));
  ({ reg } = await registryWithBusybox());
  srv = await startCriProcess({ root: path.join(base, 'root'), state: path.join(base, 'state'), socket: path.join(base, 'cri.sock'), extra: ['--cni-conf-dir', confDir] });
  c = criClient(srv.socket);
});

test.after(async () => {
  if (!ready) return;
  await endCriTest({ client: c, srv, reg, base });
  if (linkExists(net.bridge)) run('ip', ['link', 'del', net.bridge]);
});

// RunPodSandbox creates the pause while CNI's ADD configures the namespace (cri/sandboxes.ts): the
// pause must end up in that namespace, and the pod's hosts file (written in place once ADD gave the
// address) must name it, also as the pause's bind mount sees it.
test('on the CNI path the pause runs in the configured namespace and its /etc/hosts has the address', async () => {
  if (!ready) return;
  const { pod, ip } = await runPod('overlap');
  const info = JSON.parse((await c.runtime('PodSandboxStatus', { pod_sandbox_id: pod, verbose: true })).info.info);
  assert.ok(info.pid > 0, 'the pause runs');
  assert.is(fs.statSync(`/proc/${info.pid}/ns/net`).ino, fs.statSync(netnsFile(pod)).ino, 'the pause is in the pod namespace');
  const addr = run('nsenter', [`--net=${netnsFile(pod)}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0']).stdout;
  assert.ok(addr.includes(` ${ip}/`), `eth0 in the namespace has ${ip}: ${addr}`);
  assert.ok(fs.readFileSync(`/proc/${info.pid}/root/etc/hosts`, 'utf8').includes(ip), 'the pause sees its address in /etc/hosts');
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  assertGone(pod, ip);
});

test('the namespace mount is lost: StopPodSandbox and RemovePodSandbox succeed, the address is released', async () => {
  if (!ready) return skip('CRI pods without their netns', `needs root, docker-registry, skopeo and CNI plugins (missing: ${missingCniPlugins().join(', ') || 'none'})`);
  const { pod, ip } = await runPod('unmounted');
  assert.is(run('umount', ['-l', netnsFile(pod)]).status, 0);
  assert.ok(fs.existsSync(netnsFile(pod)) && !isMountPoint(netnsFile(pod)), 'an empty file is left where the namespace was');
  await c.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  assert.is((await c.runtime('PodSandboxStatus', { pod_sandbox_id: pod })).status.state, 'SANDBOX_NOTREADY');
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  assert.is((await c.runtime('ListPodSandbox', {})).items.length, 0);
  assertGone(pod, ip);
});

test('the namespace file is gone (a reboot): RemovePodSandbox alone cleans up', async () => {
  if (!ready) return;
  const { pod, ip } = await runPod('rebooted');
  assert.is(run('umount', ['-l', netnsFile(pod)]).status, 0);
  fs.rmSync(netnsFile(pod));
  await c.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  assert.is((await c.runtime('ListPodSandbox', {})).items.length, 0);
  assertGone(pod, ip);
});

test.run();
