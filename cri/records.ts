// What CRI keeps beside the container service: one record per sandbox and one per container,
// under <root>/cri/. Lifecycle state (running, exit codes) is never stored here: it comes from the
// container service, so a restarted `berth serve` sees the truth.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { Ajv } from 'ajv';
import { writeJsonAtomic, writeJsonAtomicAsync } from '../lib/atomic-write.js';
import { dataLoss, invalidArgument, notFound } from '../lib/errors.js';
import { NameIndex } from '../engine/name-index.js';

const strMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const mode = { type: 'string', enum: ['pod', 'container', 'node'] } as const;

export const sandboxRecordSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^[a-f0-9]{64}$' },
    pauseId: { type: 'string' },        // the container service's id of the pause container
    metadata: {
      type: 'object',
      properties: { name: { type: 'string' }, uid: { type: 'string' }, namespace: { type: 'string' }, attempt: { type: 'integer' } },
      required: ['name', 'uid', 'namespace', 'attempt'],
    },
    createdAt: { type: 'string' },      // nanoseconds since the epoch
    hostname: { type: 'string' },
    logDirectory: { type: 'string' },
    labels: strMap,
    annotations: strMap,
    runtimeHandler: { type: 'string' },
    cgroupParent: { type: 'string' },   // absolute cgroupfs path, below /berth
    namespaces: { type: 'object', properties: { network: mode, pid: mode, ipc: mode }, required: ['network', 'pid', 'ipc'] },
    ip: { type: 'string' },
    stopped: { type: 'boolean' },
  },
  required: ['id', 'metadata', 'createdAt', 'hostname', 'labels', 'annotations', 'cgroupParent', 'namespaces'],
} as const;
export type SandboxRecord = FromSchema<typeof sandboxRecordSchema>;

export const criContainerRecordSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^[a-f0-9]{64}$' },
    sandboxId: { type: 'string' },
    metadata: { type: 'object', properties: { name: { type: 'string' }, attempt: { type: 'integer' } }, required: ['name', 'attempt'] },
    image: { type: 'string' },          // what the kubelet asked for
    imageRef: { type: 'string' },       // the image id it resolved to
    createdAt: { type: 'string' },
    labels: strMap,
    annotations: strMap,
    logPath: { type: 'string' },        // absolute, '' when the kubelet gave none
    mounts: { type: 'array', items: { type: 'object' } },
    stopSignal: { type: 'string' },
  },
  required: ['id', 'sandboxId', 'metadata', 'image', 'createdAt', 'labels', 'annotations', 'logPath'],
} as const;
export type CriContainerRecord = FromSchema<typeof criContainerRecordSchema>;

const ajv = new Ajv({ strict: false });
const checkSandbox = ajv.compile(sandboxRecordSchema);
const checkContainer = ajv.compile(criContainerRecordSchema);

/** The key of what the kubelet may ask for twice (a retried RPC): a file name for the key index. */
function keyOf(parts: (string | number)[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

class JsonDir<T extends { id: string }> {
  private readonly cache = new Map<string, { ino: bigint; mtimeNs: bigint; size: bigint; record: T }>();
  /**
   * Each record's key (keyFn) -> its id, so the kubelet's retries are found without reading every
   * record (engine/name-index.ts; the CRI server is these records' one writer).
   */
  private readonly keys: NameIndex;
  constructor(readonly dir: string, private check: ((x: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null }, private what: string,
    private keyFn: (r: T) => (string | number)[]) {
    this.keys = new NameIndex(`${dir}.keys`, (id) => this.file(id));
  }
  file(id: string): string {
    if (!/^[a-f0-9]{64}$/.test(id)) throw invalidArgument(`${this.what} id ${JSON.stringify(id)} is not 64 hex digits`);
    return path.join(this.dir, `${id}.json`);
  }
  /**
   * Durable as every metadata write. `beside: true` when other work may run meanwhile: the fsync goes to
   * the libuv pool (one hop) instead of blocking this thread (~0.5-1 ms).
   */
  async put(r: T, opts: { beside?: boolean } = {}): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (opts.beside) await writeJsonAtomicAsync(this.file(r.id), r);
    else writeJsonAtomic(this.file(r.id), r);
  }
  get(id: string): T {
    const f = this.file(id);
    // Listing and name checks read every record per RPC: a record already parsed and validated is
    // reused while its file is the same one (every write renames a new inode into place).
    const st = fs.statSync(f, { throwIfNoEntry: false, bigint: true });
    if (!st) throw notFound(`${this.what} ${id} not found`);
    const hit = this.cache.get(id);
    if (hit && hit.ino === st.ino && hit.mtimeNs === st.mtimeNs && hit.size === st.size) return structuredClone(hit.record);
    let raw: unknown;
    try { raw = JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`${this.what} ${id} not found`);
      throw dataLoss(`${f} cannot be read: ${(e as Error).message}`);
    }
    if (!this.check(raw)) throw dataLoss(`${f} is damaged: ${this.check.errors?.[0]?.instancePath || '/'} ${this.check.errors?.[0]?.message ?? ''}`);
    this.cache.set(id, { ino: st.ino, mtimeNs: st.mtimeNs, size: st.size, record: structuredClone(raw as T) });
    return raw as T;
  }
  has(id: string): boolean { return /^[a-f0-9]{64}$/.test(id) && fs.existsSync(this.file(id)); }
  delete(id: string): void {
    const r = (() => { try { return this.get(id); } catch { return undefined; } })();
    fs.rmSync(this.file(id), { force: true });
    this.cache.delete(id);
    // after the record: an entry left by a crash between the two counts as free
    if (r) this.keys.release(keyOf(this.keyFn(r)), id);
  }

  /**
   * Writes a new record unless a live one has its key: then that one's id is returned and nothing is
   * kept. The record is written first and the key claimed after, so two racing adds cannot both win.
   */
  async add(r: T, opts: { beside?: boolean } = {}): Promise<string | undefined> {
    this.ensureKeys();
    const key = keyOf(this.keyFn(r));
    const holder = this.keys.lookup(key);
    if (holder) return holder;
    await this.put(r, opts);
    const won = this.keys.claim(key, r.id);
    if (won) this.delete(r.id);
    return won;
  }

  /** The id of the record with these key parts (as keyFn gives them), if there is one. */
  byKey(parts: (string | number)[]): string | undefined {
    this.ensureKeys();
    return this.keys.lookup(keyOf(parts));
  }

  /** Records written by a berth without the key index get one, once. */
  private ensureKeys(): void {
    if (!this.keys.exists()) this.keys.build(this.list().map((r) => ({ id: r.id, name: keyOf(this.keyFn(r)) })));
  }
  list(): T[] {
    let names: string[];
    try { names = fs.readdirSync(this.dir); } catch { return []; }
    const live = new Set(names);
    for (const id of this.cache.keys()) if (!live.has(`${id}.json`)) this.cache.delete(id); // removed by another process
    const out: T[] = [];
    for (const n of names) {
      const m = /^([a-f0-9]{64})\.json$/.exec(n);
      if (!m) continue;
      try { out.push(this.get(m[1])); } catch { /* removed meanwhile or damaged: not listed */ }
    }
    return out;
  }
  /** A full id or a unique prefix (crictl passes prefixes). */
  resolve(q: string): string {
    if (this.has(q)) return q;
    if (q && /^[a-f0-9]+$/.test(q)) {
      // names only: no record is read
      let names: string[];
      try { names = fs.readdirSync(this.dir); } catch { names = []; }
      const hits = names.filter((n) => n.startsWith(q) && /^[a-f0-9]{64}\.json$/.test(n));
      if (hits.length === 1) return hits[0].slice(0, 64);
      if (hits.length > 1) throw invalidArgument(`${this.what} id prefix ${q} is ambiguous`);
    }
    throw notFound(`${this.what} ${JSON.stringify(q)} not found`);
  }
}

/** A pod is one RunPodSandbox per namespace, name, uid and attempt. */
export function sandboxKey(r: Pick<SandboxRecord, 'metadata'>): (string | number)[] {
  return [r.metadata.namespace, r.metadata.name, r.metadata.uid, r.metadata.attempt];
}

/** A container is one CreateContainer per pod, name and attempt. */
export function containerKey(r: Pick<CriContainerRecord, 'sandboxId' | 'metadata'>): (string | number)[] {
  return [r.sandboxId, r.metadata.name, r.metadata.attempt];
}

export class CriRecords {
  readonly sandboxes: JsonDir<SandboxRecord>;
  readonly containers: JsonDir<CriContainerRecord>;
  constructor(readonly root: string) {
    this.sandboxes = new JsonDir<SandboxRecord>(path.join(root, 'cri', 'sandboxes'), checkSandbox, 'pod sandbox', sandboxKey);
    this.containers = new JsonDir<CriContainerRecord>(path.join(root, 'cri', 'containers'), checkContainer, 'container', containerKey);
  }
  sandboxDir(id: string): string { return path.join(this.root, 'cri', 'sandbox-files', id); }
  /** where the pause root filesystems live (pause-rootfs.ts) */
  get pauseRootfsDir(): string { return path.join(this.root, 'cri'); }
}
