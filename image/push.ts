// Push: the reverse of pull. Blobs first (skipped when the registry has them, mounted from another
// repository of the same registry when a local image came from there), manifests after, the
// index last, so the registry never holds a manifest whose blobs are missing.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { notFound } from '../lib/errors.js';
import { ContentStore } from './content-store.js';
import { checkDigest, type Digest } from './digest.js';
import { ImageStore, type ImageRecord } from './image-store.js';
import { parseManifest, MAX_MANIFEST_BYTES } from './manifest.js';
import { formatReference, manifestRef, parseReference, type Reference } from './reference.js';
import { RegistryClient, type RegistryOptions } from './registry.js';
import type { Descriptor } from './schemas.js';
import { mapLimit } from './limit.js';
import { findImage } from './lookup.js';

export type PushEvent =
  | { type: 'blob'; digest: Digest; status: 'exists' | 'mounted' | 'uploaded'; size: number }
  | { type: 'manifest'; digest: Digest; reference: string };

export interface PushOptions extends RegistryOptions {
  onEvent?: (e: PushEvent) => void;
  concurrency?: number;
}

/** Pushes local image `source` to `dest` (default: its own name). Returns the pushed digest. */
export async function push(root: string, source: string, dest?: string, opts: PushOptions = {}): Promise<{ reference: string; digest: Digest }> {
  const content = new ContentStore(root);
  const images = new ImageStore(root);
  const rec = findImage(images, source, content);
  const ref = parseReference(dest ?? rec.name);
  const client = new RegistryClient(ref.registry, opts);
  const emit = opts.onEvent ?? (() => {});

  // Push the whole index when every platform is present locally, else the resolved manifest.
  let top: Descriptor = rec.manifest;
  let children: Descriptor[] = [rec.manifest];
  if (rec.target.digest !== rec.manifest.digest && content.has(rec.target.digest)) {
    const parsed = parseManifest(content.readBlob(rec.target.digest, MAX_MANIFEST_BYTES), rec.target.mediaType);
    if (parsed.kind === 'index' && parsed.index.manifests.every((m) => manifestComplete(content, m))) {
      top = rec.target;
      children = parsed.index.manifests;
    }
  }
  const mountFrom = (digest: string) => mountSource(images, content, ref, digest);

  for (const m of children) {
    const parsed = parseManifest(content.readBlob(m.digest, MAX_MANIFEST_BYTES), m.mediaType);
    if (parsed.kind !== 'manifest') continue;
    const blobs = [parsed.manifest.config, ...parsed.manifest.layers];
    await mapLimit(blobs, opts.concurrency ?? 3, async (b) => {
      const digest = checkDigest(b.digest);
      const path = content.blobPath(digest);
      if (!content.has(digest, b.size)) throw notFound(`blob ${digest} of ${rec.name} is not in the local store`);
      if (await client.hasBlob(ref.repository, digest, ['pull', 'push'])) { emit({ type: 'blob', digest, status: 'exists', size: b.size }); return; }
      const status = await client.pushBlob(ref.repository, digest, b.size, () => Readable.toWeb(fs.createReadStream(path)) as unknown as BodyInit, mountFrom(digest));
      emit({ type: 'blob', digest, status, size: b.size });
    });
    if (children.length > 1 || top.digest !== m.digest) {
      await client.putManifest(ref.repository, m.digest, content.readBlob(m.digest), m.mediaType);
      emit({ type: 'manifest', digest: m.digest as Digest, reference: `${ref.registry}/${ref.repository}@${m.digest}` });
    }
  }
  const tagOrDigest = ref.tag ?? manifestRef(ref);
  if (ref.digest && ref.digest !== top.digest) throw notFound(`local image ${rec.name} is ${top.digest}, not ${ref.digest}`);
  await client.putManifest(ref.repository, tagOrDigest, content.readBlob(top.digest), top.mediaType);
  const reference = formatReference({ ...ref, digest: undefined });
  emit({ type: 'manifest', digest: top.digest as Digest, reference });
  return { reference, digest: top.digest as Digest };
}

function manifestComplete(content: ContentStore, m: Descriptor): boolean {
  if (!content.has(m.digest, m.size)) return false;
  try {
    const p = parseManifest(content.readBlob(m.digest, MAX_MANIFEST_BYTES), m.mediaType);
    return p.kind === 'manifest' && [p.manifest.config, ...p.manifest.layers].every((b) => content.has(b.digest, b.size));
  } catch {
    return false;
  }
}

/** Another repository of the same registry that a local image of this blob came from. */
function mountSource(images: ImageStore, content: ContentStore, dest: Reference, digest: string): string | undefined {
  for (const r of images.list()) {
    let src: Reference;
    try { src = parseReference(r.name); } catch { continue; }
    if (src.registry !== dest.registry || src.repository === dest.repository) continue;
    if (blobsOf(content, r).includes(digest)) return src.repository;
  }
  return undefined;
}

export function blobsOf(content: ContentStore, r: ImageRecord): string[] {
  try {
    const p = parseManifest(content.readBlob(r.manifest.digest, MAX_MANIFEST_BYTES), r.manifest.mediaType);
    return p.kind === 'manifest' ? [p.manifest.config.digest, ...p.manifest.layers.map((l) => l.digest)] : [];
  } catch {
    return [];
  }
}
