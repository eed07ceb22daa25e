// /images/*: pull (create), list, inspect, remove, tag, push, save (get) and load, on image/.
// Pull and push report progress as the JSON lines the docker CLI renders.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import { BerthError, invalidArgument, notFound } from '../lib/errors.js';
import { familiarName, parseReference, formatReference, push, saveImages, loadArchive, RegistryClient, type RegistryOptions } from '../image/index.js';
import { flag, readJsonBody, sendJson, unixSeconds } from './http-util.js';
import { messageOf } from './errors.js';
import { resOf, type Ctx, type Route } from './route.js';

const route = (method: string, p: string, handle: (c: Ctx) => Promise<void>): Route => ({ method, path: new RegExp(`^${p}$`), handle });
// image names may hold slashes and a registry port: everything up to the last known suffix
const IMG = '(.+?)';

/** X-Registry-Auth: base64url JSON {username, password, serveraddress, identitytoken}. */
export function registryAuth(req: http.IncomingMessage): RegistryOptions {
  const h = req.headers['x-registry-auth'];
  if (!h || Array.isArray(h)) return {};
  let a: { username?: string; password?: string; identitytoken?: string };
  try {
    a = JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw invalidArgument('X-Registry-Auth is not base64-encoded JSON');
  }
  if (a.username && a.password) return { credentials: { username: a.username, password: a.password } };
  return {};
}

function displayNames(names: string[]): string[] {
  return names.map((n) => {
    const r = parseReference(n);
    return `${familiarName(r)}${r.tag ? ':' + r.tag : ''}`;
  });
}

function findImage(c: Ctx, name: string) {
  try { return c.b.engine.images.inspect(name); } catch (e) {
    if (e instanceof BerthError && e.code === 'NOT_FOUND') throw notFound(`No such image: ${name}`);
    throw e;
  }
}

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

/** A JSON-lines progress stream; an error after the headers goes out as an errorDetail line. */
function progress(res: http.ServerResponse) {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  return {
    line: (o: Record<string, unknown>) => { if (!res.destroyed) res.write(JSON.stringify(o) + '\r\n'); },
    fail: (e: unknown) => { if (!res.destroyed) res.write(JSON.stringify({ errorDetail: { message: messageOf(e) }, error: messageOf(e) }) + '\r\n'); },
    end: () => res.end(),
  };
}

export const imageRoutes: Route[] = [
  route('POST', '/images/create', async (c) => {
    const from = c.query.get('fromImage');
    if (c.query.get('fromSrc')) throw new BerthError('UNIMPLEMENTED', 'docker import (fromSrc) is not supported');
    if (!from) throw invalidArgument('fromImage is required');
    const tag = c.query.get('tag');
    const refStr = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
    const ref = parseReference(refStr);
    const res = resOf(c);
    const p = progress(res);
    const reg = { ...c.b.registry, ...registryAuth(c.req) };
    const shown = new Set<string>();
    p.line({ status: `Pulling from ${ref.repository}`, id: ref.tag ?? ref.digest ?? 'latest' });
    try {
      const had = (() => { try { return c.b.engine.images.inspect(refStr).id; } catch { return undefined; } })();
      let digest = '';
      await c.b.engine.pull(refStr, {
        platform: c.query.get('platform') || undefined, registry: reg,
        onEvent: (e) => {
          if (e.type === 'layer') {
            const id = short(e.digest);
            if (!shown.has(id)) { shown.add(id); p.line({ status: e.status === 'exists' ? 'Already exists' : 'Pulling fs layer', progressDetail: {}, id }); }
            if (e.status === 'downloading') p.line({ status: 'Downloading', progressDetail: { current: e.done, total: e.total }, id });
            else if (e.status === 'verified') { p.line({ status: 'Download complete', progressDetail: {}, id }); p.line({ status: 'Pull complete', progressDetail: {}, id }); }
          } else if (e.type === 'resolved') digest = e.digest;
          else if (e.type === 'done') digest = e.digest;
        },
      });
      const now = c.b.engine.images.inspect(refStr).id;
      const name = formatReference(ref).replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
      p.line({ status: `Digest: ${digest}` });
      p.line({ status: had === now ? `Status: Image is up to date for ${name}` : `Status: Downloaded newer image for ${name}` });
      c.b.events.publish('image', 'pull', formatReference(ref), { name: formatReference(ref) });
    } catch (e) {
      p.fail(e);
    }
    p.end();
  }),

  route('GET', '/images/json', async (c) => {
    const all = c.b.engine.images.list();
    const wanted = c.query.get('filter') ?? c.query.get('filters');
    let refFilter: string[] = [];
    if (wanted) {
      try { const f = JSON.parse(wanted) as Record<string, unknown>; const r = f.reference; refFilter = Array.isArray(r) ? r.map(String) : r ? Object.keys(r as object) : []; }
      catch { refFilter = [wanted]; }
    }
    const out = all.filter((i) => !refFilter.length || refFilter.some((f) => i.names.some((n) => { const d = displayNames([n])[0]; return d === f || d.split(':')[0] === f || n === f; })))
      .map((i) => ({
        Id: i.id, ParentId: '', RepoTags: displayNames(i.names), RepoDigests: i.repoDigests.map((d) => displayNames([d.split('@')[0]])[0] + '@' + d.split('@')[1]),
        Created: unixSeconds(i.created), Size: i.size, SharedSize: -1, VirtualSize: i.size, Labels: {}, Containers: -1,
      }));
    sendJson(resOf(c), 200, out);
  }),

  route('GET', '/images/get', async (c) => {
    const names = c.query.getAll('names');
    if (!names.length) throw invalidArgument('names is required');
    for (const n of names) findImage(c, n);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-save-'));
    const file = path.join(tmp, 'images.tar');
    try {
      await saveImages(c.b.engine.cfg.root, names, file, 'docker-archive');
      const res = resOf(c);
      res.writeHead(200, { 'Content-Type': 'application/x-tar', 'Content-Length': fs.statSync(file).size });
      await new Promise<void>((resolve, reject) => {
        const s = fs.createReadStream(file);
        s.on('error', reject);
        res.on('close', () => resolve());
        s.pipe(res);
      });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }),

  route('GET', `/images/${IMG}/get`, async (c) => {
    c.query.set('names', c.params[0]);
    await imageRoutes.find((r) => r.path.source === '^/images/get$')!.handle(c);
  }),

  route('POST', '/images/load', async (c) => {
    const quiet = flag(c.query, 'quiet');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-load-'));
    const file = path.join(tmp, 'in.tar');
    try {
      await new Promise<void>((resolve, reject) => {
        const out = fs.createWriteStream(file);
        c.req.pipe(out);
        out.on('finish', () => resolve());
        out.on('error', reject);
        c.req.on('error', reject);
      });
      const loaded = await loadArchive(c.b.engine.cfg.root, file);
      const res = resOf(c);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (const l of loaded) {
        const n = displayNames([l.name])[0];
        res.write(JSON.stringify({ stream: `Loaded image: ${n}\n` }) + '\r\n');
        c.b.events.publish('image', 'load', l.imageId, { name: n });
      }
      void quiet;
      res.end();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }),

  route('GET', `/images/${IMG}/json`, async (c) => {
    const d = findImage(c, c.params[0]);
    const cfg = d.config as Record<string, unknown> & { config?: Record<string, unknown>; rootfs: { diff_ids: string[] } };
    sendJson(resOf(c), 200, {
      Id: d.id, RepoTags: displayNames(d.names), RepoDigests: d.repoDigests.map((x) => displayNames([x.split('@')[0]])[0] + '@' + x.split('@')[1]),
      Parent: '', Comment: '', Created: d.created ?? '', DockerVersion: '', Author: (cfg.author as string) ?? '',
      Config: cfg.config ?? {}, Architecture: cfg.architecture ?? '', Os: cfg.os ?? '', Variant: cfg.variant,
      Size: d.size, VirtualSize: d.size, GraphDriver: { Name: 'overlay', Data: {} },
      RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids }, Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    });
  }),

  route('GET', `/images/${IMG}/history`, async (c) => {
    const d = findImage(c, c.params[0]);
    const h = ((d.config as { history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[] }).history ?? []);
    sendJson(resOf(c), 200, h.reverse().map((x, i) => ({ Id: i === 0 ? d.id : '<missing>', Created: unixSeconds(x.created), CreatedBy: x.created_by ?? '', Tags: i === 0 ? displayNames(d.names) : null, Size: 0, Comment: x.comment ?? '' })));
  }),

  route('POST', `/images/${IMG}/tag`, async (c) => {
    findImage(c, c.params[0]);
    const repo = c.query.get('repo');
    if (!repo) throw invalidArgument('repo is required');
    const tag = c.query.get('tag');
    const name = c.b.engine.images.tag(c.params[0], tag ? `${repo}:${tag}` : repo);
    c.b.events.publish('image', 'tag', name, { name });
    resOf(c).writeHead(201).end();
  }),

  route('POST', `/images/${IMG}/push`, async (c) => {
    const tag = c.query.get('tag');
    const src = tag ? `${c.params[0]}:${tag}` : c.params[0];
    findImage(c, src);
    const p = progress(resOf(c));
    const ref = parseReference(src);
    p.line({ status: `The push refers to repository [${ref.registry === 'docker.io' ? 'docker.io/' + ref.repository : ref.registry + '/' + ref.repository}]` });
    try {
      const size = { n: 0 };
      const r = await push(c.b.engine.cfg.root, src, undefined, {
        ...c.b.registry, ...registryAuth(c.req),
        onEvent: (e) => {
          if (e.type === 'blob') { size.n += e.size; p.line({ status: e.status === 'exists' ? 'Layer already exists' : e.status === 'mounted' ? 'Mounted from another repository' : 'Pushed', progressDetail: {}, id: short(e.digest) }); }
        },
      });
      p.line({ status: `${ref.tag ?? 'latest'}: digest: ${r.digest} size: ${size.n}` });
      p.line({ progressDetail: {}, aux: { Tag: ref.tag ?? 'latest', Digest: r.digest, Size: size.n } });
      c.b.events.publish('image', 'push', formatReference(ref), { name: formatReference(ref) });
    } catch (e) {
      p.fail(e);
    }
    p.end();
  }),

  route('DELETE', `/images/${IMG}`, async (c) => {
    const d = findImage(c, c.params[0]);
    const force = flag(c.query, 'force');
    const users = c.b.engine.records().filter((r) => r.imageId === d.id);
    const byName = (() => { try { return d.names.includes(formatReference(parseReference(c.params[0]))); } catch { return false; } })();
    if (users.length && !force && (!byName || d.names.length === 1)) {
      throw new BerthError('FAILED_PRECONDITION', `conflict: unable to remove repository reference "${c.params[0]}" (must force) - container ${users[0].id.slice(0, 12)} is using its referenced image ${short(d.id)}`);
    }
    const removed = c.b.engine.images.remove(c.params[0], { force });
    const out: Record<string, string>[] = removed.map((n) => ({ Untagged: displayNames([n])[0] }));
    const left = c.b.engine.images.list().some((i) => i.id === d.id);
    if (!left) out.push({ Deleted: d.id });
    for (const n of removed) c.b.events.publish('image', 'untag', d.id, { name: n });
    sendJson(resOf(c), 200, out);
  }),

  // docker login: the daemon checks the credentials; the CLI stores them and sends X-Registry-Auth later.
  route('POST', '/auth', async (c) => {
    const body = await readJsonBody<{ username?: string; password?: string; serveraddress?: string }>(c.req);
    if (!body.username || !body.password) throw invalidArgument('username and password are required');
    const host = (body.serveraddress || 'docker.io').replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    const registry = host === 'index.docker.io' ? 'docker.io' : parseReference(`${host}/x`).registry;
    const client = new RegistryClient(registry, { ...c.b.registry, credentials: { username: body.username, password: body.password } });
    try {
      await client.checkLogin();
    } catch (e) {
      if (e instanceof BerthError && e.code === 'PERMISSION_DENIED') {
        sendJson(resOf(c), 401, { message: `login attempt to ${registry} failed with status: 401 Unauthorized (${e.message})` });
        return;
      }
      throw e;
    }
    sendJson(resOf(c), 200, { Status: 'Login Succeeded', IdentityToken: '' });
  }),

  route('POST', '/images/prune', async (c) => {
    sendJson(resOf(c), 200, { ImagesDeleted: null, SpaceReclaimed: 0 });
  }),
];
