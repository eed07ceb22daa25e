// The CNI client without root: config lookup and validation, and the plugin protocol exercised with
// small executable plugins (real processes reading stdin and the CNI_* environment).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from '../lib/harness.js';
import { BerthError } from '../../lib/errors.js';
import { loadNetworkConfig, readConfFile, defaultConfList, listConfFiles } from '../../engine/network/cni-config.js';
import { execPlugin, findPlugin, CniPluginError } from '../../engine/network/cni-exec.js';
import { addNetworkList, delNetworkList } from '../../engine/network/cni-client.js';
import { NetworkManager } from '../../engine/network/index.js';
import type { ConfList } from '../../engine/network/cni-schemas.js';

const work = tmpDir('berth-cni-unit-');
const bin = path.join(work, 'bin');
const log = path.join(work, 'log');
fs.mkdirSync(bin);
fs.mkdirSync(log);

/** A plugin that records its stdin and environment, then prints `stdout` and exits with `status`. */
function plugin(name: string, stdout: string, status = 0, extra = ''): void {
  fs.writeFileSync(path.join(bin, name), `#!/bin/sh
n=$(ls ${log} | wc -l)
cat > ${log}/$n-${name}-$CNI_COMMAND.json
env | grep ^CNI_ | sort > ${log}/$n-${name}-$CNI_COMMAND.env
${extra}
cat <<'JSON'
${stdout}
JSON
exit ${status}
`, { mode: 0o755 });
}

function calls(): { name: string; conf: Record<string, any>; env: string }[] {
  return fs.readdirSync(log).filter((f) => f.endsWith('.json')).sort((x, y) => parseInt(x) - parseInt(y)).map((f) => ({
    name: f.replace(/^\d+-/, '').replace(/\.json$/, ''),
    conf: JSON.parse(fs.readFileSync(path.join(log, f), 'utf8')),
    env: fs.readFileSync(path.join(log, f.replace(/\.json$/, '.env')), 'utf8'),
  }));
}

const resultA = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/x' }], ips: [{ address: '10.9.0.5/24', gateway: '10.9.0.1', interface: 0 }] };
const opts = { cniPath: [path.join(work, 'nope'), bin], timeoutMs: 5000 };
const rt = { containerId: 'ctr1', netns: '/run/x', ifName: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }] } };

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.before.each(() => { for (const f of fs.readdirSync(log)) fs.rmSync(path.join(log, f)); });

test('config dir: first file by name wins, .conf is wrapped into a list, empty dir falls back', () => {
  const dir = path.join(work, 'net.d');
  fs.mkdirSync(dir);
  assert.is(loadNetworkConfig(dir), undefined);
  assert.is(loadNetworkConfig(dir, { dataDir: '/d' })?.source, 'built-in default');
  fs.writeFileSync(path.join(dir, '20-b.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'b', plugins: [{ type: 'bridge' }] }));
  fs.writeFileSync(path.join(dir, '10-a.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'a', type: 'ptp', ipam: { type: 'static' } }));
  fs.writeFileSync(path.join(dir, 'README'), 'not a config');
  assert.equal(listConfFiles(dir).map((f) => path.basename(f)), ['10-a.conf', '20-b.conflist']);
  const got = loadNetworkConfig(dir);
  assert.is(got?.confList.name, 'a');
  assert.equal(got?.confList.plugins, [{ type: 'ptp', ipam: { type: 'static' } }]);
});

test('bad configs are refused with the file and the problem named', () => {
  const f = path.join(work, 'bad.conflist');
  fs.writeFileSync(f, '{ nope');
  assert.throws(() => readConfFile(f), (e: BerthError) => e.code === 'INVALID_ARGUMENT' && e.message.includes(f) && /not valid JSON/.test(e.message));
  fs.writeFileSync(f, JSON.stringify({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: '../../bin/sh' }] }));
  assert.throws(() => readConfFile(f), (e: BerthError) => e.code === 'INVALID_ARGUMENT' && /plugins\/0\/type/.test(e.message));
  fs.writeFileSync(f, JSON.stringify({ cniVersion: '1.0.0', name: 'x', plugins: [] }));
  assert.throws(() => readConfFile(f), /plugins/);
  assert.is(findPlugin('../sh', ['/bin']), undefined);
});

test('the built-in network: bridge + host-local in the data dir, no masquerade, portmap capability', () => {
  const c = defaultConfList({ dataDir: '/var/lib/x/ipam' });
  assert.is(c.plugins[0].type, 'bridge');
  assert.is(c.plugins[0].bridge, 'berth0');
  assert.is(c.plugins[0].ipMasq, false);
  assert.is(c.plugins[0].isGateway, true);
  assert.equal((c.plugins[0].ipam as any).ranges, [[{ subnet: '10.88.0.0/16' }]]);
  assert.is((c.plugins[0].ipam as any).dataDir, '/var/lib/x/ipam');
  assert.equal(c.plugins[1], { type: 'portmap', capabilities: { portMappings: true }, snat: true });
});

test('ADD chains prevResult, sets the CNI_* environment, gives runtimeConfig only to capable plugins', async () => {
  plugin('first', JSON.stringify(resultA));
  plugin('second', JSON.stringify({ ...resultA, dns: { nameservers: ['10.9.0.1'] } }));
  const list: ConfList = { cniVersion: '1.0.0', name: 'net1', plugins: [{ type: 'first', foo: 1 }, { type: 'second', capabilities: { portMappings: true, other: true } }] };
  const r = await addNetworkList(list, rt, opts);
  assert.equal(r.dns, { nameservers: ['10.9.0.1'] });
  const [c1, c2] = calls();
  assert.is(c1.name, 'first-ADD');
  assert.equal(c1.conf, { type: 'first', foo: 1, cniVersion: '1.0.0', name: 'net1' });
  assert.match(c1.env, /CNI_COMMAND=ADD\nCNI_CONTAINERID=ctr1\nCNI_IFNAME=eth0\nCNI_NETNS=\/run\/x\nCNI_PATH=.*nope:.*bin\n/);
  assert.equal(c2.conf.prevResult, resultA);
  assert.equal(c2.conf.runtimeConfig, { portMappings: rt.capabilityArgs.portMappings });
});

test('DEL runs the plugins in reverse with the cached result', async () => {
  plugin('first', '');
  plugin('second', '');
  const list: ConfList = { cniVersion: '1.0.0', name: 'net1', plugins: [{ type: 'first' }, { type: 'second' }] };
  await delNetworkList(list, rt, resultA, opts);
  const c = calls();
  assert.equal(c.map((x) => x.name), ['second-DEL', 'first-DEL']);
  assert.equal(c[1].conf.prevResult, resultA);
});

test("a plugin's error document becomes a typed error", async () => {
  plugin('failing', JSON.stringify({ cniVersion: '1.0.0', code: 11, msg: 'busy', details: 'lock held' }), 1);
  try {
    await execPlugin('failing', {}, { command: 'ADD', containerId: 'c', netns: '/n', ifName: 'eth0', ...opts });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, CniPluginError);
    const err = e as CniPluginError;
    assert.is(err.code, 'UNAVAILABLE');
    assert.is(err.cniCode, 11);
    assert.is(err.message, 'CNI plugin failing ADD for c failed: busy (lock held) [CNI code 11]');
  }
  plugin('crashing', 'panic: oops', 2, 'echo trace >&2');
  await execPlugin('crashing', {}, { command: 'ADD', containerId: 'c', netns: '/n', ifName: 'eth0', ...opts }).then(
    () => assert.unreachable(), (e: BerthError) => { assert.is(e.code, 'INTERNAL'); assert.match(e.message, /exit status 2.*trace/); });
  plugin('garbage', '{"cniVersion": "1.0.0", "ips": "nope"}');
  await execPlugin('garbage', {}, { command: 'ADD', containerId: 'c', netns: '/n', ifName: 'eth0', ...opts }).then(
    () => assert.unreachable(), (e: BerthError) => assert.match(e.message, /garbage returned a malformed result: \/ips/));
  await execPlugin('absent', {}, { command: 'ADD', containerId: 'c', netns: '/n', ifName: 'eth0', ...opts }).then(
    () => assert.unreachable(), (e: BerthError) => { assert.is(e.code, 'FAILED_PRECONDITION'); assert.match(e.message, /"absent" not found in CNI_PATH/); });
});

test('a hung plugin is killed at the timeout', async () => {
  plugin('hang', '', 0, 'exec sleep 30');
  const t0 = Date.now();
  await execPlugin('hang', {}, { command: 'ADD', containerId: 'c', netns: '/n', ifName: 'eth0', cniPath: [bin], timeoutMs: 300 }).then(
    () => assert.unreachable(), (e: BerthError) => { assert.is(e.code, 'DEADLINE_EXCEEDED'); assert.match(e.message, /timed out after 300 ms/); });
  assert.ok(Date.now() - t0 < 5000);
});

test('setupNetwork validates its input before touching anything', async () => {
  const mgr = new NetworkManager({ dataDir: path.join(work, 'data'), netnsDir: path.join(work, 'netns'), cniPath: [bin], defaultNetwork: false, confDir: path.join(work, 'none') });
  await mgr.setupNetwork({ id: 'x', portMappings: [{ hostPort: 70000, containerPort: 80 }] }).then(
    () => assert.unreachable(), (e: BerthError) => { assert.is(e.code, 'INVALID_ARGUMENT'); assert.match(e.message, /port mapping #1 .*hostPort/); });
  await mgr.setupNetwork({ id: 'x', portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }] }).then(
    () => assert.unreachable(), (e: BerthError) => assert.match(e.message, /port mapping #1 .*protocol/));
  await mgr.setupNetwork({ id: 'x', portMappings: [{ hostPort: 80, containerPort: 80, hostIP: '1.2.3' }] }).then(
    () => assert.unreachable(), (e: BerthError) => assert.match(e.message, /hostIP is not an IP address/));
  await mgr.setupNetwork({ id: 'x', args: { 'BAD;KEY': 'v' } }).then(
    () => assert.unreachable(), (e: BerthError) => assert.match(e.message, /CNI argument BAD;KEY=v/));
  assert.throws(() => mgr.setupNetwork({ id: '../etc' }), (e: BerthError) => e.code === 'INVALID_ARGUMENT');
  await mgr.setupNetwork({ id: 'x' }).then(
    () => assert.unreachable(), (e: BerthError) => { assert.is(e.code, 'FAILED_PRECONDITION'); assert.match(e.message, /no CNI network config/); });
  assert.throws(() => mgr.networkStatus('x'), (e: BerthError) => e.code === 'NOT_FOUND');
  await mgr.teardownNetwork('x'); // nothing attached: a no-op
  assert.not.ok(fs.existsSync(path.join(work, 'netns')), 'no namespace created for a refused request');
});

test.run();
