// `berth run --network bridge -p`: a CNI bridge network of the container's own, a published port
// reached from the host, and nothing left after rm (veth, namespace, IP allocation, DNAT chain).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isRoot, skip, run } from '../lib/harness.js';
import { envWithImage, IMAGE, type Env } from '../lib/containers.js';
import { missingCniPlugins, uniqueNetwork, natChains, removePortmapChains, linkExists, readSysctl, writeSysctl } from '../lib/network.js';

let E: Env;
const netw = uniqueNetwork();
let chainsBefore = new Set<string>();
let forwardBefore = '';

/** nc serves one connection and is restarted by the loop: retry while it is between two. */
async function readWithRetry(host: string, port: number): Promise<string> {
  let got = '';
  for (let i = 0; i < 50 && !got.includes('hello'); i++) {
    got = await connectAndRead(host, port).catch(() => '');
    if (!got) await new Promise((r) => setTimeout(r, 100));
  }
  return got;
}

function connectAndRead(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    let out = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`timeout connecting to ${host}:${port}`)); });
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

if (!isRoot) skip('cli network', 'needs root (network namespaces, veths, iptables)');
else if (missingCniPlugins().length) skip('cli network', `CNI plugins missing: ${missingCniPlugins().join(', ')} (apt-get install containernetworking-plugins)`);
else {
  const confRoot = fs.mkdtempSync('/tmp/berth-cni-conf-');
  test.before(async () => {
    chainsBefore = natChains();
    forwardBefore = readSysctl('net.ipv4.ip_forward');
    // A test-only bridge and subnet; no masquerade: nothing may leave this machine. Set before the
    // CLI environment is made: it passes this process's environment on.
    const confDir = path.join(confRoot, 'net.d');
    fs.mkdirSync(confDir);
    fs.writeFileSync(path.join(confDir, '10-test.conflist'), JSON.stringify({
      cniVersion: '1.0.0', name: netw.name,
      plugins: [
        { type: 'bridge', bridge: netw.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: netw.subnet }]], dataDir: path.join(confRoot, 'ipam') } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }));
    process.env.BERTH_CNI_CONF_DIR = confDir;
    E = await envWithImage();
  });
  test.after(() => {
    if (E) {
      const ids = E.berth(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
      if (ids.length) E.berth(['rm', '-f', ...ids]);
      // berth keeps <state>/netns as a shared bind mount (as `ip netns` does /run/netns): release it.
      run('umount', ['-l', path.join(E.state, 'netns')]);
    }
    E?.cleanup();
    fs.rmSync(confRoot, { recursive: true, force: true });
    run('ip', ['link', 'del', netw.bridge]);
    removePortmapChains(chainsBefore);
    writeSysctl('net.ipv4.ip_forward', forwardBefore);
  });

  test('run --network bridge -p: own address, published port reachable from the host, rm leaves nothing', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const id = E.ok(['run', '-d', '--name', 'web', '--network', 'bridge', '-p', `${port}:8080`, IMAGE,
      'sh', '-c', 'while :; do echo hello-from-berth | nc -l -p 8080; done']).trim();
    const ip = E.ok(['inspect', '-f', '.NetworkSettings.IPAddress', 'web']).trim();
    assert.ok(ip.startsWith(netw.prefix), `container ip ${ip} in ${netw.subnet}`);
    assert.match(E.ok(['exec', 'web', 'cat', '/etc/hosts']), new RegExp(`${ip.replace(/\./g, '\\.')}\\s`));
    // the container's address directly, then the published port on the bridge gateway address
    assert.match(await readWithRetry(ip, 8080), /hello-from-berth/, 'the container address from the host');
    assert.match(await readWithRetry('127.0.0.1', port), /hello-from-berth/, 'the published port on 127.0.0.1');
    assert.match(await readWithRetry(`${netw.prefix}1`, port), /hello-from-berth/, 'the published port on the bridge address');
    const netnsDir = path.join(E.state, 'netns');
    assert.ok(fs.existsSync(path.join(netnsDir, id)));
    E.ok(['rm', '-f', 'web']);
    assert.not.ok(fs.existsSync(path.join(netnsDir, id)), 'namespace removed');
    assert.equal(fs.readdirSync(path.join(confRoot, 'ipam', netw.name)).filter((f) => /^\d/.test(f)), [], 'IP released');
    assert.ok(linkExists(netw.bridge), 'the bridge stays for the next container');
  });

  test('-p without --network bridge is refused clearly', () => {
    const r = E.berth(['run', '--rm', '-p', '8080:80', IMAGE, 'true']);
    assert.is(r.status, 125);
    assert.match(r.stderr, /publishing ports \(-p\) needs --network bridge/);
  });
}

test.run();
