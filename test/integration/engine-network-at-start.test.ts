// A bridge container created with networkAtStart (the Docker API's creates): create returns while the
// network is set up, start waits for it and gives the container its address (record, /etc/hosts, eth0);
// a start in another process finds the finished setup, or makes one again where none finished; a
// container removed before its start leaves no network behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, skip } from '../lib/harness.js';
import { envWithImage, IMAGE, type Env } from '../lib/containers.js';
import { testCniNetwork } from '../lib/dockerapi.js';
import { missingCniPlugins } from '../lib/network.js';
import { ContainerService } from '../../engine/service.js';

let E: Env;
let net: { confDir: string; undo(): void };
const services: ContainerService[] = [];

function service(): ContainerService {
  const s = new ContainerService({ root: E.root, state: E.state, runtime: E.runtime, cniConfDir: net.confDir });
  services.push(s);
  return s;
}

const create = (svc: ContainerService) => svc.create({ image: IMAGE, command: ['sleep', '60'], network: 'bridge', networkAtStart: true });

async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (f()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const attached = (svc: ContainerService, id: string) => { try { svc.network().networkStatus(id); return true; } catch { return false; } };

async function checkStarted(svc: ContainerService, id: string): Promise<void> {
  const ip = svc.view(svc.resolve(id)).record.ip;
  assert.ok(ip && /^\d+\.\d+\.\d+\.\d+$/.test(ip), `an address in the record: ${ip}`);
  assert.match(fs.readFileSync(path.join(svc.layout.containerDir(id), 'hosts'), 'utf8'), new RegExp(`^${ip.replace(/\./g, '\\.')}\\s`, 'm'));
  const hosts = await svc.execSync(id, { cmd: ['cat', '/etc/hosts'] });
  assert.match(Buffer.from(hosts.stdout).toString(), new RegExp(ip.replace(/\./g, '\\.')));
  // the kernel's own list of the namespace's local addresses (the image has no `ip`)
  const fib = await svc.execSync(id, { cmd: ['cat', '/proc/net/fib_trie'] });
  assert.match(Buffer.from(fib.stdout).toString(), new RegExp(`${ip.replace(/\./g, '\\.')}\\n\\s+/32 host LOCAL`));
}

if (!isRoot) skip('network at start', 'needs root (network namespaces, veths, containers)');
else if (missingCniPlugins().length) skip('network at start', `CNI plugins missing: ${missingCniPlugins().join(', ')} (apt-get install containernetworking-plugins)`);
else {
  test.before(async () => {
    E = await envWithImage();
    net = testCniNetwork(E.dir, E.state);
  });
  test.after(async () => {
    const svc = services[0];
    if (svc) for (const id of svc.ids()) await svc.remove(id, { force: true }).catch(() => undefined);
    net?.undo();
    E?.cleanup();
  });

  test('create answers without an address; start waits for the setup and gives it one', async () => {
    const svc = service();
    const rec = await create(svc);
    assert.is(rec.ip, undefined);
    assert.is(svc.view(svc.resolve(rec.id)).record.ip, undefined, 'no address before the start (as dockerd)');
    await svc.start(rec.id);
    await checkStarted(svc, rec.id);
    await svc.remove(rec.id, { force: true });
    assert.not.ok(svc.network().list().includes(rec.id), 'network record gone');
    assert.not.ok(svc.network().netnsFor(rec.id).exists(), 'namespace gone');
  });

  test('removed before its start: the setup still in flight is undone after it', async () => {
    const svc = service();
    const rec = await create(svc);
    await svc.remove(rec.id);
    assert.not.ok(svc.network().list().includes(rec.id));
    assert.not.ok(svc.network().netnsFor(rec.id).exists());
  });

  test('started by another process: the finished setup is found; where none finished, it is made again', async () => {
    const a = service();
    const done = await create(a);
    const half = await create(a);
    await until('both setups', () => attached(a, done.id) && attached(a, half.id));
    // what a creator killed mid-setup leaves: no finished setup
    await a.network().teardownNetwork(half.id);
    const b = service();
    await b.start(done.id);
    await checkStarted(b, done.id);
    await b.start(half.id);
    await checkStarted(b, half.id);
    for (const id of [done.id, half.id]) {
      await b.remove(id, { force: true });
      assert.not.ok(b.network().list().includes(id));
    }
  });

  test.run();
}
