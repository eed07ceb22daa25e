// Spare network namespaces (engine/network/netns-spare.ts): a server's NetworkManager keeps one made
// ahead; claimNetns gives it to a pod at once, the pod's native setup configures it and makes the next
// spare in the same exec; a claim never set up goes with teardown; close() and a dead owner's leftovers
// leave no mount or file behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, tmpDir } from '../lib/harness.js';
import { NetworkManager } from '../../engine/network/index.js';
import { NetnsStore, isNamespaceFile } from '../../engine/network/netns.js';
import { NetnsSpares } from '../../engine/network/netns-spare.js';
import { missingCniPlugins, uniqueNetwork, natChains, readSysctl, inNetns, endNetworkTest } from '../lib/network.js';

const missing = isRoot ? missingCniPlugins() : [];
const reason = !isRoot ? 'needs root (network namespaces, bridges)' : missing.length ? `CNI plugins missing: ${missing.join(', ')}` : '';

if (reason) {
  skip('network-netns-spare', reason);
} else {
  const net = uniqueNetwork();
  const work = tmpDir('berth-netspare-');
  const netnsDir = path.join(work, 'netns');
  const opts = { dataDir: path.join(work, 'data'), netnsDir, confDir: path.join(work, 'no-such-dir'), defaultNetwork: { name: net.name, bridge: net.bridge, subnet: net.subnet, ipMasq: false } };
  const chainsBefore = natChains();
  const forwardBefore = readSysctl('net.ipv4.ip_forward');
  const mgr = new NetworkManager({ ...opts, spareNetns: true });
  const children: ChildProcess[] = [];
  const ids = ['s1', 's2', 'never'];
  const spares = () => new NetnsStore(netnsDir).spares();
  const mountedSpares = () => spares().filter((n) => isNamespaceFile(path.join(netnsDir, n)));
  const mountsUnder = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p) => p?.startsWith(netnsDir + '/'));
  async function until(what: string, fn: () => boolean): Promise<void> {
    for (let i = 0; i < 200; i++) { if (fn()) return; await new Promise((r) => setTimeout(r, 20)); }
    assert.unreachable(`timed out waiting for ${what}`);
  }
  test.after(async () => {
    await mgr.close();
    await endNetworkTest({ mgr, ids, children, bridge: net.bridge, chainsBefore, forwardBefore, work });
  });

  test('a spare is made at start; claimNetns moves it to the pod at once', async () => {
    // mounted by its exec a moment before the manager has it
    await until('a spare namespace', () => mgr.hasSpareNetns);
    assert.is(mountedSpares().length, 1);
    const spare = mountedSpares()[0];
    assert.not.ok(mgr.netns.list().includes(spare), 'a spare is never listed as a pod namespace');
    assert.ok(mgr.claimNetns('s1'), 'claimed');
    assert.ok(isNamespaceFile(path.join(netnsDir, 's1')), 's1 is a namespace now');
    assert.equal(spares(), [], 'the spare is gone from its own path');
    assert.not.ok(mgr.claimNetns('s2'), 'no second spare yet');
  });

  test('the pod\'s setup configures the claimed namespace and makes the next spare', async () => {
    const s = await mgr.setupNetwork({ id: 's1' });
    assert.is(s.netnsPath, path.join(netnsDir, 's1'));
    const r = inNetns(s.netnsPath, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.is(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(`${s.ip}/`), r.stdout);
    assert.is(mountedSpares().length, 1, 'berth-netns add --spare made the next one');
    assert.ok(mgr.hasSpareNetns, 'and the manager has it');
    await mgr.teardownNetwork('s1');
    assert.not.ok(fs.existsSync(path.join(netnsDir, 's1')));
  });

  test('a namespace claimed and never set up goes with teardown', async () => {
    assert.ok(mgr.claimNetns('never'));
    await mgr.teardownNetwork('never');
    assert.not.ok(fs.existsSync(path.join(netnsDir, 'never')));
    assert.not.ok(mountsUnder().some((p) => p.endsWith('/never')));
  });

  test('spares of an owner that died are removed; close() removes its own', async () => {
    // a dead owner's spare: pid 0x7fffffff never exists
    const store = new NetnsStore(netnsDir);
    const stale = await store.createSpare(`.spare-${0x7fffffff}-0`);
    fs.writeFileSync(path.join(netnsDir, `.spare-${0x7fffffff}-1`), ''); // left empty by a crash
    assert.ok(isNamespaceFile(stale));
    const other = new NetnsSpares(store);
    assert.not.ok(fs.existsSync(stale), 'dead owner\'s spare removed');
    assert.not.ok(fs.existsSync(path.join(netnsDir, `.spare-${0x7fffffff}-1`)));
    await other.close();
    await until('the refill after the claim', () => mgr.hasSpareNetns);
    await mgr.close();
    assert.equal(spares(), [], 'close() leaves no spare');
    assert.not.ok(mgr.claimNetns('s2'), 'no spare after close');
    assert.equal(mountsUnder(), [], 'no namespace mount left');
  });
}

test.run();
