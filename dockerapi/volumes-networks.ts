// /volumes (named volumes are <root>/volumes/<name>/_data, the engine's layout), /networks (host and
// none; bridge networks come with CNI), and POST /containers/prune.
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, invalidArgument, notFound } from '../lib/errors.js';
import { readJsonBody, sendJson } from './http-util.js';
import { resOf, NAME, type Ctx, type Route } from './route.js';

const route = (method: string, p: string, handle: (c: Ctx) => Promise<void>): Route => ({ method, path: new RegExp(`^${p}$`), handle });

function volumeDoc(c: Ctx, name: string) {
  const dir = path.join(c.b.engine.layout.volumes, name);
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) throw notFound(`get ${name}: no such volume`);
  return { Name: name, Driver: 'local', Mountpoint: path.join(dir, '_data'), CreatedAt: st.birthtime.toISOString(), Labels: {}, Scope: 'local', Options: {} };
}

function volumeNames(c: Ctx): string[] {
  try { return fs.readdirSync(c.b.engine.layout.volumes).filter((n) => fs.existsSync(path.join(c.b.engine.layout.volumes, n, '_data'))); } catch { return []; }
}

/** Volumes named in containers' binds (a volume in use cannot be removed). */
function volumesInUse(c: Ctx): Map<string, string> {
  const used = new Map<string, string>();
  const prefix = c.b.engine.layout.volumes + '/';
  for (const r of c.b.engine.records()) {
    try {
      const spec = JSON.parse(fs.readFileSync(path.join(r.bundle, 'config.json'), 'utf8')) as { mounts?: { source?: string }[] };
      for (const m of spec.mounts ?? []) if (m.source?.startsWith(prefix)) used.set(m.source.slice(prefix.length).split('/')[0], r.id);
    } catch { /* no bundle */ }
  }
  return used;
}

const NETWORKS = [
  { Name: 'host', Id: 'host', Driver: 'host' },
  { Name: 'none', Id: 'none', Driver: 'null' },
];

export const volumeNetworkRoutes: Route[] = [
  route('GET', '/volumes', async (c) => {
    sendJson(resOf(c), 200, { Volumes: volumeNames(c).map((n) => volumeDoc(c, n)), Warnings: null });
  }),
  route('POST', '/volumes/create', async (c) => {
    const body = await readJsonBody<{ Name?: string; Driver?: string }>(c.req);
    if (body.Driver && body.Driver !== 'local') throw invalidArgument(`volume driver ${JSON.stringify(body.Driver)} is not supported (local)`);
    const name = body.Name || [...crypto.getRandomValues(new Uint8Array(32))].map((x) => x.toString(16).padStart(2, '0')).join('');
    c.b.engine.volumePath(name);
    c.b.events.publish('volume', 'create', name, { driver: 'local' });
    sendJson(resOf(c), 201, volumeDoc(c, name));
  }),
  route('GET', `/volumes/${NAME}`, async (c) => { sendJson(resOf(c), 200, volumeDoc(c, c.params[0])); }),
  route('DELETE', `/volumes/${NAME}`, async (c) => {
    const name = c.params[0];
    volumeDoc(c, name);
    const user = volumesInUse(c).get(name);
    if (user) throw new BerthError('FAILED_PRECONDITION', `remove ${name}: volume is in use - [${user}]`);
    fs.rmSync(path.join(c.b.engine.layout.volumes, name), { recursive: true, force: true });
    resOf(c).writeHead(204).end();
  }),
  route('GET', '/networks', async (c) => {
    sendJson(resOf(c), 200, NETWORKS.map((n) => ({ ...n, Created: '0001-01-01T00:00:00Z', Scope: 'local', EnableIPv6: false, IPAM: { Driver: 'default', Config: [] }, Internal: false, Attachable: false, Ingress: false, Containers: {}, Options: {}, Labels: {} })));
  }),
  route('GET', `/networks/${NAME}`, async (c) => {
    const n = NETWORKS.find((x) => x.Name === c.params[0] || x.Id === c.params[0]);
    if (!n) throw notFound(`network ${c.params[0]} not found`);
    sendJson(resOf(c), 200, { ...n, Created: '0001-01-01T00:00:00Z', Scope: 'local', EnableIPv6: false, IPAM: { Driver: 'default', Config: [] }, Internal: false, Attachable: false, Ingress: false, Containers: {}, Options: {}, Labels: {} });
  }),
  route('POST', '/containers/prune', async (c) => {
    const deleted: string[] = [];
    for (const v of c.b.engine.list({ all: true })) {
      if (v.status !== 'exited' && v.status !== 'dead') continue; // docker prunes stopped containers only
      await c.b.remove(v.record.id, {});
      deleted.push(v.record.id);
    }
    sendJson(resOf(c), 200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: 0 });
  }),
];
