// /containers/*: create, start, stop, kill, restart, pause, unpause, wait, rm, json, inspect, top,
// resize, logs, stats. Each handler translates one request into container-service calls.
import { BerthError, invalidArgument, notFound } from '../lib/errors.js';
import type { ContainerView } from '../engine/service.js';
import { flag, intParam, noContent, readJsonBody, sendJson } from './http-util.js';
import { toCreateRequest, type ContainerConfigBody } from './container-create.js';
import { inspectDoc, listEntry } from './container-view.js';
import { cgroupPathsOf, sample, statsDoc } from './stats.js';
import { encodeFrame } from '../shim/index.js';
import { MUX, RAW } from './hijack.js';
import { resOf, NAME, type Ctx, type Route } from './route.js';

const route = (method: string, p: string, handle: (c: Ctx) => Promise<void>): Route => ({ method, path: new RegExp(`^${p}$`), handle });

/** Docker's message for an unknown container (the CLI and SDKs match on it). */
function resolve(c: Ctx, idOrName: string) {
  try { return c.b.engine.resolve(idOrName); } catch (e) {
    if (e instanceof BerthError && e.code === 'NOT_FOUND') throw notFound(`No such container: ${idOrName}`);
    throw e;
  }
}

function parseFilters(q: URLSearchParams): Record<string, string[]> {
  const raw = q.get('filters');
  if (!raw) return {};
  let f: unknown;
  try { f = JSON.parse(raw); } catch { throw invalidArgument(`invalid filters: ${raw}`); }
  const out: Record<string, string[]> = {};
  // Both the current {"k":["v"]} and the old {"k":{"v":true}} forms.
  for (const [k, v] of Object.entries(f as Record<string, unknown>)) out[k] = Array.isArray(v) ? v.map(String) : Object.keys(v as object);
  return out;
}

function matches(v: ContainerView, f: Record<string, string[]>): boolean {
  const r = v.record;
  for (const [k, vals] of Object.entries(f)) {
    if (!vals.length) continue;
    const ok = vals.some((x) => {
      switch (k) {
        case 'status': return v.status === x;
        case 'name': return new RegExp(x.replace(/^\//, '')).test(r.name);
        case 'id': return r.id.startsWith(x);
        case 'ancestor': return r.image === x || (r.imageId ?? '').replace('sha256:', '').startsWith(x.replace('sha256:', ''));
        case 'label': {
          const i = x.indexOf('=');
          return i < 0 ? x in (r.labels ?? {}) : (r.labels ?? {})[x.slice(0, i)] === x.slice(i + 1);
        }
        case 'exited': return v.exit !== undefined && String(v.exit.exitCode) === x;
        default: throw invalidArgument(`invalid filter '${k}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

function since(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (!v || v === '0') return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return n * 1000;
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw invalidArgument(`invalid value for "${name}": ${v}`);
  return t;
}

export const containerRoutes: Route[] = [
  route('POST', '/containers/create', async (c) => {
    const body = await readJsonBody<ContainerConfigBody>(c.req);
    const name = c.query.get('name') || undefined;
    const req = toCreateRequest(body, name);
    let rec;
    try {
      // as dockerd, a bridge container gets its network at start: the setup overlaps the client's attach and wait
      rec = await c.b.engine.create({ ...req, networkAtStart: true });
    } catch (e) {
      if (e instanceof BerthError && e.code === 'NOT_FOUND' && /image/i.test(e.message)) throw notFound(`No such image: ${body.Image}`);
      if (e instanceof BerthError && e.code === 'ALREADY_EXISTS') {
        throw new BerthError('ALREADY_EXISTS', `Conflict. The container name "/${name}" is already in use. ${e.message}`);
      }
      throw e;
    }
    c.b.saveRequest(rec.id, body);
    c.b.events.publish('container', 'create', rec.id, c.b.attrs(rec));
    sendJson(resOf(c), 201, { Id: rec.id, Warnings: [] });
  }),

  route('GET', '/containers/json', async (c) => {
    const all = flag(c.query, 'all');
    const f = parseFilters(c.query);
    let list = c.b.engine.list({ all: all || Boolean(f.status?.length) }).filter((v) => matches(v, f));
    const limit = intParam(c.query, 'limit');
    if (limit && limit > 0) list = list.slice(0, limit);
    sendJson(resOf(c), 200, list.map((v) => listEntry(c.b, v)));
  }),

  route('GET', `/containers/${NAME}/json`, async (c) => {
    const r = resolve(c, c.params[0]);
    sendJson(resOf(c), 200, inspectDoc(c.b, c.b.engine.inspect(r.id)));
  }),

  route('POST', `/containers/${NAME}/start`, async (c) => {
    const r = resolve(c, c.params[0]);
    const v = c.b.engine.view(r);
    // dockerd counts a restarting container as running: its restart policy is starting it
    if (v.status === 'running' || v.status === 'paused' || v.status === 'restarting') { resOf(c).writeHead(304).end(); return; }
    await c.b.start(r.id);
    noContent(resOf(c));
  }),

  route('POST', `/containers/${NAME}/stop`, async (c) => {
    const r = resolve(c, c.params[0]);
    const v = c.b.engine.view(r);
    // stopping a restarting container cancels its pending restart
    if (v.status !== 'running' && v.status !== 'paused' && v.status !== 'restarting') { resOf(c).writeHead(304).end(); return; }
    await c.b.stop(r.id, intParam(c.query, 't'), c.query.get('signal') || undefined);
    noContent(resOf(c));
  }),

  route('POST', `/containers/${NAME}/restart`, async (c) => {
    const r = resolve(c, c.params[0]);
    await c.b.restart(r.id, intParam(c.query, 't'), c.query.get('signal') || undefined);
    noContent(resOf(c));
  }),

  route('POST', `/containers/${NAME}/kill`, async (c) => {
    const r = resolve(c, c.params[0]);
    const v = c.b.engine.view(r);
    if (v.status !== 'running' && v.status !== 'paused') throw new BerthError('FAILED_PRECONDITION', `Cannot kill container: ${c.params[0]}: container ${r.id} is not running`);
    await c.b.kill(r.id, c.query.get('signal') || 'SIGKILL');
    noContent(resOf(c));
  }),

  route('POST', `/containers/${NAME}/pause`, async (c) => {
    const r = resolve(c, c.params[0]);
    if (c.b.engine.view(r).status !== 'running') throw new BerthError('FAILED_PRECONDITION', `container ${r.id} is not running`);
    await c.b.engine.pause(r.id);
    c.b.events.publish('container', 'pause', r.id, c.b.attrs(r));
    noContent(resOf(c));
  }),

  route('POST', `/containers/${NAME}/unpause`, async (c) => {
    const r = resolve(c, c.params[0]);
    if (c.b.engine.view(r).status !== 'paused') throw new BerthError('FAILED_PRECONDITION', `container ${r.id} is not paused`);
    await c.b.engine.resume(r.id);
    c.b.events.publish('container', 'unpause', r.id, c.b.attrs(r));
    noContent(resOf(c));
  }),

  route('POST', `/containers/${NAME}/wait`, async (c) => {
    const r = resolve(c, c.params[0]);
    const res = resOf(c);
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const { ready } = c.b.waitFor(r.id, c.query.get('condition') ?? '', ac.signal);
    // Headers first: the docker CLI waits for them before it starts the container.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    try {
      const code = await ready;
      res.end(JSON.stringify({ StatusCode: code, Error: null }) + '\n');
    } catch (e) {
      if (!ac.signal.aborted) res.end(JSON.stringify({ StatusCode: -1, Error: { Message: (e as Error).message } }) + '\n');
    }
  }),

  route('DELETE', `/containers/${NAME}`, async (c) => {
    const r = resolve(c, c.params[0]);
    const force = flag(c.query, 'force');
    const v = c.b.engine.view(r);
    if ((v.status === 'running' || v.status === 'paused' || v.status === 'restarting') && !force) {
      throw new BerthError('FAILED_PRECONDITION', `cannot remove container "/${r.name}": container is ${v.status}: stop the container before removing or force remove`);
    }
    await c.b.remove(r.id, { force, volumes: flag(c.query, 'v') });
    noContent(resOf(c));
  }),

  route('POST', `/containers/${NAME}/resize`, async (c) => {
    const r = resolve(c, c.params[0]);
    const h = intParam(c.query, 'h'), w = intParam(c.query, 'w');
    if (!h || !w) throw invalidArgument('resize needs h and w');
    const v = c.b.engine.view(r);
    if (v.status !== 'running' && v.status !== 'paused') throw new BerthError('FAILED_PRECONDITION', `container ${r.id} is not running`);
    if (r.tty) await c.b.engine.monitorOf(r.id).resize(h, w);
    sendJson(resOf(c), 200, {});
  }),

  route('GET', `/containers/${NAME}/top`, async (c) => {
    const r = resolve(c, c.params[0]);
    const t = await c.b.engine.top(r.id);
    sendJson(resOf(c), 200, { Titles: t.titles, Processes: t.processes });
  }),

  route('GET', `/containers/${NAME}/logs`, async (c) => {
    const r = resolve(c, c.params[0]);
    const res = resOf(c);
    const q = c.query;
    const wantOut = flag(q, 'stdout'), wantErr = flag(q, 'stderr');
    if (!wantOut && !wantErr) throw invalidArgument('Bad parameters: you must choose at least one stream');
    const tailRaw = q.get('tail');
    const tail = tailRaw && tailRaw !== 'all' ? Number(tailRaw) : undefined;
    if (tail !== undefined && !(tail >= 0)) throw invalidArgument(`invalid tail ${tailRaw}`);
    const from = since(q, 'since'), until = since(q, 'until');
    const ts = flag(q, 'timestamps');
    const tty = Boolean(r.tty);
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const records = c.b.engine.logs(r.id, { follow: flag(q, 'follow'), tail, signal: ac.signal });
    res.writeHead(200, { 'Content-Type': tty ? RAW : MUX });
    res.flushHeaders();
    try {
      for await (const rec of records) {
        if (ac.signal.aborted) break;
        const t = Date.parse(rec.time);
        if (from !== undefined && t < from) continue;
        if (until !== undefined && t > until) continue;
        if (rec.stream === 'stdout' ? !wantOut : !wantErr) continue;
        const line = Buffer.from(`${ts ? rec.time + ' ' : ''}${rec.text}${rec.partial ? '' : '\n'}`);
        res.write(tty ? line : encodeFrame(rec.stream === 'stdout' ? 1 : 2, line));
      }
    } catch (e) {
      if (!ac.signal.aborted) throw e;
    }
    res.end();
  }),

  route('GET', `/containers/${NAME}/stats`, async (c) => {
    const r = resolve(c, c.params[0]);
    const res = resOf(c);
    const stream = flag(c.query, 'stream', true) && !flag(c.query, 'one-shot');
    const paths = () => cgroupPathsOf(c.b.engine.layout.runtimeRoot, r.id);
    let prev = sample(paths()), prevAt = new Date();
    if (!stream) {
      // one sample a short while after another, so the CLI can compute a CPU percentage
      await new Promise((x) => setTimeout(x, flag(c.query, 'one-shot') ? 0 : 100));
      const cur = sample(paths());
      sendJson(res, 200, statsDoc(r.id, r.name, cur, prev, new Date(), prevAt));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    let closed = false;
    res.on('close', () => { closed = true; });
    while (!closed) {
      await new Promise((x) => setTimeout(x, 1000));
      if (closed) break;
      const cur = sample(paths()), at = new Date();
      res.write(JSON.stringify(statsDoc(r.id, r.name, cur, prev, at, prevAt)) + '\n');
      prev = cur; prevAt = at;
      const s = c.b.engine.view(r).status;
      if (s !== 'running' && s !== 'paused') break;
    }
    res.end();
  }),
];
