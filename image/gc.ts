// Garbage collection: blobs that no image record references (through target, index children,
// manifest, config, layers) are deleted, abandoned ingests too; snapshots are the caller's: GC
// hands it the chain IDs images still need. Pulls hold the GC lock shared, GC holds it exclusive,
// so a pull's blobs are never collected in the window before its image record is written.
import fs from 'node:fs';
import path from 'node:path';
import { ContentStore } from './content-store.js';
import { ImageStore } from './image-store.js';
import { parseImageConfig, parseManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './manifest.js';
import { chainIds } from './chain-id.js';
import { isDigest } from './digest.js';
import { isUnlocked, withFileLock } from './async-lock.js';

export interface GcOptions {
  /** Told which snapshot chain IDs images still reference; removes the others it owns. */
  snapshots?: (referencedChainIds: Set<string>) => Promise<void> | void;
  /** Remove ingests of any age that nobody is writing (default: only those older than a day). */
  allIngests?: boolean;
  dryRun?: boolean;
}

export interface GcResult { removedBlobs: string[]; freedBytes: number; removedIngests: string[] }

export function gcLockFile(root: string): string {
  return path.join(root, 'content', 'gc.lock');
}

/** Held shared by writers (pull, load) for their whole run. */
export async function withGcShared<T>(root: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.join(root, 'content'), { recursive: true, mode: 0o700 });
  return withFileLock(gcLockFile(root), fn, { shared: true });
}

export function referencedBlobs(root: string): { blobs: Set<string>; chains: Set<string> } {
  const content = new ContentStore(root);
  const blobs = new Set<string>();
  const chains = new Set<string>();
  const walk = (digest: string, mediaType: string, depth: number) => {
    if (!isDigest(digest) || blobs.has(digest) && depth > 0) return;
    blobs.add(digest);
    if (!content.has(digest) || depth > 2) return;
    let parsed;
    try { parsed = parseManifest(content.readBlob(digest, MAX_MANIFEST_BYTES), mediaType); } catch { return; }
    if (parsed.kind === 'index') {
      for (const m of parsed.index.manifests) walk(m.digest, m.mediaType, depth + 1);
      return;
    }
    const m = parsed.manifest;
    blobs.add(m.config.digest);
    for (const l of m.layers) blobs.add(l.digest);
    try {
      const cfg = parseImageConfig(content.readBlob(m.config.digest, MAX_CONFIG_BYTES));
      for (const c of chainIds(cfg.rootfs.diff_ids)) chains.add(c);
    } catch { /* config missing: nothing to keep for it */ }
  };
  for (const r of new ImageStore(root).list()) {
    walk(r.target.digest, r.target.mediaType, 0);
    walk(r.manifest.digest, r.manifest.mediaType, 0);
  }
  return { blobs, chains };
}

export async function gc(root: string, opts: GcOptions = {}): Promise<GcResult> {
  const content = new ContentStore(root);
  fs.mkdirSync(path.join(root, 'content'), { recursive: true, mode: 0o700 });
  return withFileLock(gcLockFile(root), async () => {
    const { blobs, chains } = referencedBlobs(root);
    const result: GcResult = { removedBlobs: [], freedBytes: 0, removedIngests: [] };
    for (const b of content.list()) {
      if (blobs.has(b.digest)) continue;
      result.removedBlobs.push(b.digest);
      result.freedBytes += b.size;
      if (!opts.dryRun) content.delete(b.digest);
    }
    const dayAgo = Date.now() - 24 * 3600 * 1000;
    for (const name of content.listIngests()) {
      const dir = path.join(content.ingestDir, name);
      let mtime = 0;
      try { mtime = fs.statSync(dir).mtimeMs; } catch { continue; }
      // Writers hold the GC lock shared, so under this exclusive lock no ingest is being written:
      // temp ingests are debris; named ones are resumable downloads, kept unless old or asked.
      const lock = path.join(content.ingestDir, `${name}.lock`);
      if (!name.startsWith('tmp-') && !opts.allIngests && mtime > dayAgo) continue;
      if (!isUnlocked(lock)) continue;
      result.removedIngests.push(name);
      if (!opts.dryRun) { content.removeIngest(name); fs.rmSync(lock, { force: true }); }
    }
    // Lock files of downloads that ended in an error outlive their ingest directory.
    for (const n of fs.existsSync(content.ingestDir) ? fs.readdirSync(content.ingestDir, { withFileTypes: true }) : []) {
      const m = /^([a-f0-9]{64})\.lock$/.exec(n.name);
      if (!m || fs.existsSync(path.join(content.ingestDir, m[1]))) continue;
      const lock = path.join(content.ingestDir, n.name);
      if (!opts.dryRun && isUnlocked(lock)) fs.rmSync(lock, { force: true });
    }
    if (opts.snapshots && !opts.dryRun) await opts.snapshots(chains);
    return result;
  });
}
