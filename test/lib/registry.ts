// Debian's docker-registry (distribution 2.8) on 127.0.0.1 (or another address) for image tests,
// over HTTP or HTTPS with a throwaway CA (makeTestCa): anonymous, htpasswd Basic, or token auth backed by a small token server written here (RS256 JWTs with an x5c header
// holding a self-signed certificate the registry trusts through rootcertbundle).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { tmpDir } from './harness.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function haveRegistry(): boolean {
  return fs.existsSync(REGISTRY_BIN);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestRegistry {
  host: string;           // 127.0.0.1:PORT
  dir: string;
  tokenServer?: TokenServer;
  stop(): Promise<void>;
}

export interface RegistryAuth {
  kind: 'none' | 'basic' | 'token';
  users?: Record<string, string>;
  /** token mode: who may do what. Default: anonymous pull of everything, users push+pull. */
  grant?: (user: string | undefined, repo: string, actions: string[]) => string[];
}

export interface RegistryServe {
  /** Address to listen on (default 127.0.0.1). */
  addr?: string;
  /** Serve HTTPS with this certificate and key (PEM files), e.g. from makeTestCa(). */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export interface TestCa {
  caFile: string;
  /** A server certificate signed by the CA for 127.0.0.1, ::1, localhost and `ips`. */
  certFile: string;
  keyFile: string;
}

/** A throwaway CA and a server certificate it signed (openssl), in `dir`. */
export function makeTestCa(dir: string, ips: string[] = []): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=berth-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=berth-test-registry']);
  const san = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...ips.map((ip) => `IP:${ip}`)].join(',');
  fs.writeFileSync(f('server.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  ssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext')]);
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') };
}

export async function startRegistry(auth: RegistryAuth = { kind: 'none' }, serve: RegistryServe = {}): Promise<TestRegistry> {
  const dir = tmpDir('berth-registry-');
  const port = await freePort();
  const addr = serve.addr ?? '127.0.0.1';
  const lines = [
    'version: 0.1',
    'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', `  filesystem:`, `    rootdirectory: ${path.join(dir, 'data')}`, '  delete:', '    enabled: true',
    'http:', `  addr: ${addr.includes(':') ? `[${addr}]` : addr}:${port}`, '  secret: berth-test-secret',
  ];
  if (serve.tls) lines.push('  tls:', `    certificate: ${serve.tls.certFile}`, `    key: ${serve.tls.keyFile}`);
  let tokenServer: TokenServer | undefined;
  if (auth.kind === 'basic') {
    const file = path.join(dir, 'htpasswd');
    fs.writeFileSync(file, '');
    for (const [u, p] of Object.entries(auth.users ?? {})) execFileSync('htpasswd', ['-Bb', file, u, p], { stdio: 'ignore' });
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${file}`);
  } else if (auth.kind === 'token') {
    tokenServer = await startTokenServer(dir, auth.users ?? {}, auth.grant);
    lines.push('auth:', '  token:', `    realm: ${tokenServer.url}/token`, '    service: berth-test-registry', '    issuer: berth-test-issuer',
      `    rootcertbundle: ${tokenServer.certFile}`);
  }
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, lines.join('\n') + '\n');
  const child = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const host = `${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
  // A test file that dies early (uvu exits on an uncaught error) must not leave a registry behind.
  const onExit = () => {
    try { if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const stop = async () => {
    process.removeListener('exit', onExit);
    await killAndWait(child);
    await tokenServer?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    try {
      if (serve.tls) await httpsGet(`https://${host}/v2/`, fs.readFileSync(serve.tls.caFile));
      else await fetch(`http://${host}/v2/`).then((res) => res.body?.cancel());
      return { host, dir, tokenServer, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  await stop();
  throw new Error(`docker-registry did not start: ${stderr}`);
}

/** GET over HTTPS trusting `ca` (the global fetch takes no CA): resolves with the status. */
function httpsGet(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
  });
}

export function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    if (child.pid) process.kill(child.pid, 'SIGKILL');
  });
}

export interface TokenServer {
  url: string;
  certFile: string;
  requests: { user?: string; scopes: string[] }[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

async function startTokenServer(dir: string, users: Record<string, string>, grant?: RegistryAuth['grant']): Promise<TokenServer> {
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=berth-test-token'], { stdio: 'ignore' });
  const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
  const certDer = new crypto.X509Certificate(fs.readFileSync(certFile)).raw;
  const requests: TokenServer['requests'] = [];
  const decide = grant ?? ((user: string | undefined, _repo: string, actions: string[]) => (user ? actions : actions.filter((a) => a === 'pull')));

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let user: string | undefined;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (users[u] !== p.join(':')) { res.writeHead(401, { 'Content-Type': 'application/json' }); res.end('{"details":"bad credentials"}'); return; }
      user = u;
    }
    const scopes = url.searchParams.getAll('scope');
    requests.push({ user, scopes });
    const access = scopes.flatMap((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      const name = rest.join(':');
      const ok = type === 'repository' ? decide(user, name, actions) : [];
      return ok.length ? [{ type, name, actions: ok }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = { iss: 'berth-test-issuer', sub: user ?? '', aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = crypto.sign('sha256', Buffer.from(signing), key);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    certFile,
    requests,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
