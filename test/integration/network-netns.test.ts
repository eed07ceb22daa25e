// berth-owned network namespaces: created without Node changing its own namespaces, persistent with
// no process inside, under a shared mount point, removed cleanly (twice is fine).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip, tmpDir, run } from '../lib/harness.js';
import { NetnsStore } from '../../engine/network/netns.js';
import { networkNamespace } from '../../engine/network/index.js';
import { BerthError } from '../../lib/errors.js';

if (!isRoot) {
  skip('network-netns', 'needs root (network namespaces, mounts)');
} else {
  const work = tmpDir('berth-netns-');
  const dir = path.join(work, 'netns');
  const store = new NetnsStore(dir);

  test.after(() => {
    for (const id of store.list()) store.remove(id);
    assert.ok(store.releaseDir());
    fs.rmSync(work, { recursive: true, force: true });
  });

  const mountLine = (p: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === p);

  test('create makes a separate, persistent namespace with only lo', () => {
    const p = store.create('pod1');
    assert.is(p, path.join(dir, 'pod1'));
    assert.ok(store.exists('pod1'));
    assert.is.not(fs.statSync(p).ino, fs.statSync('/proc/self/ns/net').ino, 'not the host namespace');
    const links = run('nsenter', [`--net=${p}`, 'ip', '-o', 'link']).stdout.trim().split('\n');
    assert.is(links.length, 1);
    assert.match(links[0], /^1: lo:/);
    // The directory is a shared mount point (as ip netns does), so unmounts reach cloned namespaces.
    assert.match(mountLine(dir) ?? '', / shared:\d+/);
    assert.match(mountLine(p) ?? '', / nsfs /);
    assert.equal(networkNamespace(p), { type: 'network', path: p });
    assert.equal(store.list(), ['pod1']);
  });

  test('create of an existing name is refused; bad names are refused', () => {
    assert.throws(() => store.create('pod1'), (e: BerthError) => e.code === 'ALREADY_EXISTS');
    for (const bad of ['../x', '', 'a/b', '.hidden']) assert.throws(() => store.create(bad), (e: BerthError) => e.code === 'INVALID_ARGUMENT');
  });

  test('remove unmounts and deletes; twice is fine; a second namespace is unaffected', () => {
    const p2 = store.create('pod2');
    store.remove('pod1');
    assert.not.ok(fs.existsSync(path.join(dir, 'pod1')));
    assert.is(mountLine(path.join(dir, 'pod1')), undefined);
    store.remove('pod1');
    assert.ok(store.exists('pod2'));
    store.remove('pod2');
    assert.not.ok(fs.existsSync(p2));
    assert.equal(store.list(), []);
  });
}

test.run();
