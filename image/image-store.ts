// Image records: <root>/images/<sha256(name)>.json maps a name (docker.io/library/busybox:latest)
// to the descriptor it was pulled or loaded as, plus the manifest chosen for this host.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readJson, writeJsonAtomic } from '../lib/atomic-write.js';
import { notFound } from '../lib/errors.js';
import type { Descriptor } from './schemas.js';
import { validateDescriptor } from './schemas.js';

export interface ImageRecord {
  name: string;              // fully qualified reference: registry/repo:tag or registry/repo@digest
  target: Descriptor;        // what the name points at (index or manifest), as the registry served it
  manifest: Descriptor;      // the platform manifest berth resolved and downloaded
  created: string;           // when berth recorded it
  labels?: Record<string, string>;
  /** registry: pulled under this name (its target digest is a repo digest); archive: loaded; tag: tagged locally. */
  source?: 'registry' | 'archive' | 'tag';
}

export class ImageStore {
  readonly dir: string;
  constructor(root: string) {
    this.dir = path.join(root, 'images');
  }

  private file(name: string): string {
    return path.join(this.dir, crypto.createHash('sha256').update(name).digest('hex') + '.json');
  }

  get(name: string): ImageRecord | undefined {
    try {
      const r = readJson<ImageRecord>(this.file(name));
      return r.name === name ? r : undefined;
    } catch {
      return undefined;
    }
  }

  put(rec: ImageRecord): void {
    validateDescriptor(rec.target);
    validateDescriptor(rec.manifest);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeJsonAtomic(this.file(rec.name), rec);
  }

  delete(name: string): void {
    if (!this.get(name)) throw notFound(`no image named ${name}`);
    fs.rmSync(this.file(name), { force: true });
  }

  list(): ImageRecord[] {
    let names: string[];
    try { names = fs.readdirSync(this.dir); } catch { return []; }
    const out: ImageRecord[] = [];
    for (const n of names) {
      if (!/^[a-f0-9]{64}\.json$/.test(n)) continue;
      try { out.push(readJson<ImageRecord>(path.join(this.dir, n))); } catch { /* torn or foreign file: ignored */ }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
