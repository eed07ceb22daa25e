// `docker run -p` against berth: published ports give the container a CNI bridge network of its own
// (a test-only bridge and subnet), reachable from the host; removal takes the network down again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isRoot, skip, run, tmpDir } from '../lib/harness.js';
import { haveRegistry, type TestRegistry } from '../lib/registry.js';
import { docker, haveDocker, registryWithBusybox, startApiServer, type ApiServer } from '../lib/dockerapi.js';
import { missingCniPlugins, uniqueNetwork, natChains, removePortmapChains, readSysctl, writeSysctl } from '../lib/network.js';
import { publishedPorts } from '../../dockerapi/container-create.js';

function read(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let out = '';
    s.setTimeout(3000, () => { s.destroy(); resolve(''); });
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', () => resolve(''));
  });
}

test('PortBindings become port mappings', () => {
  assert.equal(publishedPorts({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostPort: '5353' }] }), [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp' },
  ]);
  assert.throws(() => publishedPorts({ 'x/tcp': [{}] }), /invalid port/);
});

if (!isRoot) skip('docker API ports', 'needs root (network namespaces, veths, iptables)');
else if (!haveDocker()) skip('docker API ports', 'no docker CLI');
else if (!haveRegistry()) skip('docker API ports', 'docker-registry is not installed');
else if (missingCniPlugins().length) skip('docker API ports', `CNI plugins missing: ${missingCniPlugins().join(', ')}`);
else {
  let reg: TestRegistry;
  let ref: string;
  let s: ApiServer;
  const netw = uniqueNetwork();
  const conf = tmpDir('berth-dapi-cni-');
  let chainsBefore = new Set<string>();
  let forwardBefore = '';

  test.before(async () => {
    chainsBefore = natChains();
    forwardBefore = readSysctl('net.ipv4.ip_forward');
    fs.mkdirSync(path.join(conf, 'net.d'));
    fs.writeFileSync(path.join(conf, 'net.d', '10-test.conflist'), JSON.stringify({
      cniVersion: '1.0.0', name: netw.name,
      plugins: [
        { type: 'bridge', bridge: netw.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: netw.subnet }]], dataDir: path.join(conf, 'ipam') } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }));
    process.env.BERTH_CNI_CONF_DIR = path.join(conf, 'net.d'); // the server process inherits it
    ({ reg, ref } = await registryWithBusybox());
    s = await startApiServer();
  });

  test.after(async () => {
    if (s) {
      await docker(s.socket, ['rm', '-f', 'pub']).catch(() => undefined);
      run('umount', ['-l', path.join(s.state, 'netns')]);
      await s.stop();
    }
    await reg?.stop();
    fs.rmSync(conf, { recursive: true, force: true });
    run('ip', ['link', 'del', netw.bridge]);
    removePortmapChains(chainsBefore);
    writeSysctl('net.ipv4.ip_forward', forwardBefore);
  });

  test('docker run -d -p 127.0.0.1:PORT:8080 is reachable from the host; rm takes the network down', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const r = await docker(s.socket, ['run', '-d', '--name', 'pub', '-p', `127.0.0.1:${port}:8080`, ref, 'sh', '-c', 'while :; do echo hello-docker-port | nc -l -p 8080; done']);
    assert.is(r.status, 0, r.stderr);
    const ip = (await docker(s.socket, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'pub'])).stdout.trim();
    assert.ok(ip.startsWith(netw.prefix), `container ip ${ip} in ${netw.subnet}`);
    let got = '';
    for (let i = 0; i < 50 && !got.includes('hello'); i++) { got = await read('127.0.0.1', port); if (!got) await new Promise((x) => setTimeout(x, 100)); }
    assert.match(got, /hello-docker-port/);
    const rm = await docker(s.socket, ['rm', '-f', 'pub']);
    assert.is(rm.status, 0, rm.stderr);
    assert.equal(fs.readdirSync(path.join(s.state, 'netns')), [], 'namespace removed');
    assert.equal(fs.readdirSync(path.join(conf, 'ipam', netw.name)).filter((f) => /^\d/.test(f)), [], 'IP released');
  });

  test('the default network is a bridge network with an address (inspect shows it, the host reaches it); none is loopback only; host is the host\'s', async () => {
    const r = await docker(s.socket, ['run', '-d', '--name', 'dflt', ref, 'sh', '-c', 'while :; do echo hello-bridge | nc -l -p 8080; done']);
    assert.is(r.status, 0, r.stderr);
    const [ip, viaNetworks, prefix, gw, mode] = (await docker(s.socket, ['inspect', '-f', '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.Gateway}} {{.HostConfig.NetworkMode}}', 'dflt'])).stdout.trim().split(' ');
    assert.ok(ip.startsWith(netw.prefix), `container ip ${ip} in ${netw.subnet}`);
    assert.is(viaNetworks, ip);
    assert.is(prefix, '24');
    assert.ok(gw.startsWith(netw.prefix), `gateway ${gw}`);
    assert.is(mode, 'default');
    let got = '';
    for (let i = 0; i < 50 && !got.includes('hello'); i++) { got = await read(ip, 8080); if (!got) await new Promise((x) => setTimeout(x, 100)); }
    assert.match(got, /hello-bridge/);
    assert.is((await docker(s.socket, ['rm', '-f', 'dflt'])).status, 0);
    assert.equal(fs.readdirSync(path.join(s.state, 'netns')), [], 'namespace removed');

    const ifaces = async (args: string[]) => {
      const x = await docker(s.socket, ['run', '--rm', ...args, ref, 'cat', '/proc/net/dev']);
      assert.is(x.status, 0, x.stderr);
      return x.stdout.split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean).sort();
    };
    assert.equal(await ifaces(['--network', 'none']), ['lo']);
    // the host's own interfaces (other containers' veths may come and go meanwhile): its bridge for this test, lo
    const onHost = await ifaces(['--network', 'host']);
    assert.ok(onHost.includes(netw.bridge) && onHost.includes('lo'), onHost.join(' '));
    assert.equal(await ifaces([]), ['eth0', 'lo']);
    const none = await docker(s.socket, ['run', '--rm', '--network', 'none', ref, 'true']);
    assert.is(none.status, 0, none.stderr);
  });
}

test.run();
