// Helpers for the CNI networking tests: unique names so runs never collide with a real network,
// and a record of the host state the plugins touch (iptables nat chains, ip_forward) so the test
// can put back exactly what it changed and nothing else.
import { spawn, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run } from './harness.js';
import { findPlugin } from '../../engine/network/cni-exec.js';
import { DEFAULT_CNI_PATH } from '../../engine/network/cni-config.js';

export function missingCniPlugins(): string[] {
  return ['bridge', 'host-local', 'portmap', 'loopback'].filter((p) => !findPlugin(p, DEFAULT_CNI_PATH));
}

export function uniqueNetwork(): { name: string; bridge: string; subnet: string; prefix: string } {
  const hex = crypto.randomBytes(3).toString('hex');
  // 10.213.0.0/16 is nothing this machine uses; a random /24 in it keeps parallel runs apart.
  const third = 1 + (crypto.randomBytes(1)[0] % 250);
  return { name: `berth-test-${hex}`, bridge: `btn${hex}`, subnet: `10.213.${third}.0/24`, prefix: `10.213.${third}.` };
}

export function natChains(): Set<string> {
  const r = run('iptables', ['-w', '-t', 'nat', '-S']);
  return new Set(r.stdout.split('\n').filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim()));
}

export function natRules(chain: string): string[] {
  const r = run('iptables', ['-w', '-t', 'nat', '-S', chain]);
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l.startsWith('-A ')) : [];
}

const PORTMAP_TOP = [
  ['PREROUTING', 'CNI-HOSTPORT-DNAT'], ['OUTPUT', 'CNI-HOSTPORT-DNAT'], ['POSTROUTING', 'CNI-HOSTPORT-MASQ'],
] as const;

/** berth's own per-container nat chains (engine/network/nat-rules.ts). */
export const BERTH_CHAIN = /^BERTH-(DN|HM|MQ)-[0-9a-f]{16}$/;

/**
 * The native driver removes its chains at teardown; a test that failed midway may leave some.
 * Remove those this test created (not in `before`) with every rule that jumps to them.
 */
function removeBerthChains(before: Set<string>): void {
  const left = [...natChains()].filter((c) => BERTH_CHAIN.test(c) && !before.has(c));
  if (!left.length) return;
  const save = run('iptables-save', ['-t', 'nat']).stdout.split('\n');
  const jumps = save.filter((l) => left.some((c) => l.startsWith('-A ') && l.endsWith(`-j ${c}`) && !l.startsWith(`-A ${c} `)));
  const script = ['*nat', ...jumps.map((l) => l.replace(/^-A /, '-D ')), ...left.map((c) => `:${c} - [0:0]`), ...left.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
  run('iptables-restore', ['-w', '--noflush'], { input: script });
}

/**
 * portmap leaves its top-level chains behind after the last DEL (by design: they are shared).
 * Remove the ones this test created, and only when no other container's rules remain in them.
 * berth's own chains left by a failed test go too.
 */
export function removePortmapChains(before: Set<string>): void {
  removeBerthChains(before);
  const created = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'].filter((c) => !before.has(c) && natChains().has(c));
  if (!created.length) return;
  if (natRules('CNI-HOSTPORT-DNAT').some((l) => l.includes('CNI-DN-'))) return; // someone else's container is mapped
  for (const [parent, chain] of PORTMAP_TOP) {
    if (!created.includes(chain)) continue;
    for (const rule of natRules(parent).filter((l) => l.includes(`-j ${chain}`))) {
      // -S prints rules quoted for a shell (comments contain spaces): let sh split them.
      run('sh', ['-c', `iptables -w -t nat ${rule.replace(/^-A /, '-D ')}`]);
    }
  }
  for (const c of created) run('iptables', ['-w', '-t', 'nat', '-F', c]);
  for (const c of created) run('iptables', ['-w', '-t', 'nat', '-X', c]);
}

export function readSysctl(name: string): string {
  return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
}
export function writeSysctl(name: string, value: string): void {
  fs.writeFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, value);
}

/** Run a command inside a network namespace (nsenter: this process never changes namespaces). */
export function inNetns(netnsPath: string, cmd: string[], timeout = 10_000) {
  return run('nsenter', [`--net=${netnsPath}`, ...cmd], { timeout });
}

export function linkExists(name: string): boolean {
  return run('ip', ['link', 'show', 'dev', name]).status === 0;
}

export function bridgePorts(bridge: string): string[] {
  const r = run('ip', ['-o', 'link', 'show', 'master', bridge]);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[1].trim().split('@')[0]);
}

/** busybox wget from the host. No -T: this busybox's wget segfaults with it; the spawn timeout bounds the wait. */
export function wget(url: string): SpawnSyncReturns<string> {
  return run('busybox', ['wget', '-q', '-O', '-', url], { timeout: 5000 });
}

/**
 * busybox httpd on port 8080 in a pod's netns serving `text` as /index.html from `webRoot`; waits (up to
 * ~2 s) until the host reaches it at the pod's address and returns that first direct fetch.
 */
export async function httpdInNetns(netnsPath: string, webRoot: string, podIp: string, text: string): Promise<{ child: ChildProcess; direct: SpawnSyncReturns<string> }> {
  fs.mkdirSync(webRoot, { recursive: true });
  fs.writeFileSync(path.join(webRoot, 'index.html'), text);
  const child = spawn('nsenter', [`--net=${netnsPath}`, 'busybox', 'httpd', '-f', '-p', '8080', '-h', webRoot], { stdio: 'ignore' });
  let direct = wget(`http://${podIp}:8080/index.html`);
  for (let i = 0; i < 20 && direct.status !== 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    direct = wget(`http://${podIp}:8080/index.html`);
  }
  return { child, direct };
}

/** Until `link` is gone (a veth pair dies with its namespace in the kernel's netns cleanup, a moment later). */
export async function linkGone(link: string): Promise<boolean> {
  for (let i = 0; i < 100 && linkExists(link); i++) await new Promise((r) => setTimeout(r, 50));
  return !linkExists(link);
}

/**
 * The end of a native-driver network test: stops its listeners, tears down its ids, removes any namespace
 * left, the bridge once its ports are gone, the nat chains it created, puts ip_forward back, and
 * removes its work dir.
 */
export async function endNetworkTest(o: {
  mgr: { teardownNetwork(id: string): Promise<void>; netns: { list(): string[]; remove(id: string): void; releaseDir(): boolean } };
  ids: string[]; children: ChildProcess[]; bridge: string; chainsBefore: Set<string>; forwardBefore: string; work: string;
}): Promise<void> {
  for (const c of o.children.splice(0)) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const id of o.ids) await o.mgr.teardownNetwork(id).catch((e) => console.error('teardown', id, e));
  for (const id of o.mgr.netns.list()) o.mgr.netns.remove(id);
  for (let i = 0; i < 100 && linkExists(o.bridge) && bridgePorts(o.bridge).length; i++) await new Promise((r) => setTimeout(r, 50));
  if (linkExists(o.bridge)) run('ip', ['link', 'del', o.bridge]);
  removePortmapChains(o.chainsBefore);
  writeSysctl('net.ipv4.ip_forward', o.forwardBefore);
  o.mgr.netns.releaseDir();
  fs.rmSync(o.work, { recursive: true, force: true });
}
