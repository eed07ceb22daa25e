// `berth load`: an OCI image-layout tar (index.json + blobs/sha256/...) or a `docker save` archive
// (manifest.json + config + layer tars) into the content and image stores. Every blob is hashed
// as it streams in; files named by digest must match it. Names come from the archive
// (io.containerd.image.name / org.opencontainers.image.ref.name annotations or RepoTags).
import fs from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { BerthError, invalidArgument, notFound } from '../lib/errors.js';
import { ContentStore, type BlobInfo } from './content-store.js';
import { checkDigest, sha256, type Digest } from './digest.js';
import { ImageStore } from './image-store.js';
import { checkConfigMatches, parseImageConfig, parseManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './manifest.js';
import { MT, layerCompression } from './media-types.js';
import { hostPlatform, selectManifest } from './platform.js';
import { formatReference, parseReference } from './reference.js';
import type { Descriptor, Platform } from './schemas.js';
import { validateIndex } from './schemas.js';
import { sniff } from './decompress.js';
import { withGcShared } from './gc.js';

const META_FILES = new Set(['index.json', 'oci-layout', 'manifest.json', 'repositories']);
const MAX_META = 16 * 1024 * 1024;

export interface LoadOptions {
  /** Name for OCI archives whose entries carry only a tag (or nothing). */
  name?: string;
  platform?: Platform;
}

export interface LoadedImage { name: string; manifest: Descriptor; imageId: Digest }

function cleanName(n: string): string {
  const s = n.replace(/^\.\//, '').replace(/^\/+/, '');
  if (s.split('/').includes('..')) throw invalidArgument(`archive entry ${JSON.stringify(n)} climbs out of the archive`);
  return s;
}

export async function loadArchive(root: string, input: string | Readable, opts: LoadOptions = {}): Promise<LoadedImage[]> {
  return withGcShared(root, () => loadLocked(root, input, opts));
}

async function loadLocked(root: string, input: string | Readable, opts: LoadOptions): Promise<LoadedImage[]> {
  const content = new ContentStore(root);
  const images = new ImageStore(root);
  const files = new Map<string, BlobInfo & { head: Buffer }>();
  const meta = new Map<string, Buffer>();

  const extract = tar.extract();
  const src = typeof input === 'string' ? fs.createReadStream(input) : input;
  src.on('error', (e: Error) => extract.destroy(e));
  src.pipe(extract);
  try {
    for await (const entry of extract) {
      const name = cleanName(entry.header.name);
      if (entry.header.type !== 'file') { entry.resume(); continue; }
      if (META_FILES.has(name)) {
        const chunks: Buffer[] = [];
        let n = 0;
        for await (const c of entry) {
          n += (c as Buffer).length;
          if (n > MAX_META) throw invalidArgument(`archive file ${name} is over ${MAX_META} bytes`);
          chunks.push(c as Buffer);
        }
        meta.set(name, Buffer.concat(chunks));
        continue;
      }
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      let head: Buffer = Buffer.alloc(0);
      const tap = (async function* () {
        for await (const c of entry) {
          if (head.length < 8) head = Buffer.concat([head, (c as Buffer).subarray(0, 8)]);
          yield c as Buffer;
        }
      })();
      const info = await content.writeStream(tap, m ? { digest: `sha256:${m[1]}`, size: entry.header.size } : { size: entry.header.size });
      files.set(name, { ...info, head });
    }
  } catch (e) {
    if (e instanceof BerthError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`archive ${String(input)} does not exist`);
    throw invalidArgument(`cannot read archive: ${(e as Error).message}`, e);
  }

  if (meta.has('manifest.json')) return loadDockerArchive(content, images, meta.get('manifest.json')!, files);
  if (meta.has('index.json')) return loadOciLayout(content, images, meta.get('index.json')!, opts);
  throw invalidArgument('archive has neither index.json (OCI layout) nor manifest.json (docker save)');
}

function loadOciLayout(content: ContentStore, images: ImageStore, indexBytes: Buffer, opts: LoadOptions): LoadedImage[] {
  let doc: unknown;
  try { doc = JSON.parse(indexBytes.toString('utf8')); } catch (e) { throw invalidArgument(`index.json is not JSON: ${(e as Error).message}`); }
  const index = validateIndex(doc);
  const out: LoadedImage[] = [];
  for (const top of index.manifests) {
    const ann = top.annotations ?? {};
    const full = ann['io.containerd.image.name'];
    const refName = ann['org.opencontainers.image.ref.name'];
    let name: string;
    if (full) name = full;
    else if (refName && /[/@]/.test(refName)) name = refName;
    else if (opts.name) name = opts.name.includes(':') || opts.name.includes('@') || !refName ? opts.name : `${opts.name}:${refName}`;
    else if (refName) name = `localhost/imported:${refName}`;
    else throw invalidArgument('the OCI archive does not name its image: pass a name (berth load --name NAME)');
    const ref = parseReference(name);
    const manifest = resolveLocal(content, top, opts.platform);
    images.put({ name: formatReference(ref), target: { mediaType: top.mediaType, digest: top.digest, size: top.size }, manifest: manifest.desc, created: new Date().toISOString(), source: 'archive' });
    out.push({ name: formatReference(ref), manifest: manifest.desc, imageId: manifest.configDigest });
  }
  return out;
}

/** Walks an index/manifest that must be fully present in the content store. */
export function resolveLocal(content: ContentStore, top: Descriptor, platform?: Platform): { desc: Descriptor; configDigest: Digest } {
  checkDigest(top.digest);
  if (!content.has(top.digest, top.size)) throw notFound(`manifest ${top.digest} is missing from the archive or store`);
  const parsed = parseManifest(content.readBlob(top.digest, MAX_MANIFEST_BYTES), top.mediaType);
  if (parsed.kind === 'index') {
    const chosen = selectManifest(parsed.index.manifests, platform ?? hostPlatform());
    const r = resolveLocal(content, chosen, platform);
    return { desc: { ...r.desc, platform: chosen.platform }, configDigest: r.configDigest };
  }
  const m = parsed.manifest;
  for (const d of [m.config, ...m.layers]) {
    checkDigest(d.digest);
    if (!content.has(d.digest, d.size)) throw notFound(`blob ${d.digest} (${d.mediaType}) is missing from the archive or store`);
  }
  const config = parseImageConfig(content.readBlob(m.config.digest, MAX_CONFIG_BYTES));
  checkConfigMatches(m, config);
  return { desc: { mediaType: parsed.mediaType, digest: top.digest, size: top.size }, configDigest: m.config.digest as Digest };
}

interface DockerManifestEntry { Config: string; RepoTags?: string[] | null; Layers: string[] }

async function loadDockerArchive(content: ContentStore, images: ImageStore, bytes: Buffer, files: Map<string, BlobInfo & { head: Buffer }>): Promise<LoadedImage[]> {
  let entries: DockerManifestEntry[];
  try { entries = JSON.parse(bytes.toString('utf8')); } catch (e) { throw invalidArgument(`manifest.json is not JSON: ${(e as Error).message}`); }
  if (!Array.isArray(entries)) throw invalidArgument('manifest.json is not a list');
  const out: LoadedImage[] = [];
  for (const e of entries) {
    if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers)) throw invalidArgument('manifest.json entry lacks Config or Layers');
    const cfgFile = files.get(cleanName(e.Config));
    if (!cfgFile) throw notFound(`docker archive lacks ${e.Config}`);
    const config = parseImageConfig(content.readBlob(cfgFile.digest, MAX_CONFIG_BYTES));
    const layers: Descriptor[] = e.Layers.map((l, i) => {
      const f = files.get(cleanName(l));
      if (!f) throw notFound(`docker archive lacks layer ${l}`);
      const c = sniff(f.head);
      if (c === 'none' && config.rootfs.diff_ids[i] !== f.digest) {
        throw invalidArgument(`layer ${l} has digest ${f.digest} but the config's diff_id is ${config.rootfs.diff_ids[i]}`);
      }
      const mediaType = c === 'gzip' ? MT.ociLayerGzip : c === 'zstd' ? MT.ociLayerZstd : MT.ociLayer;
      return { mediaType, digest: f.digest, size: f.size };
    });
    const manifest = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: cfgFile.digest, size: cfgFile.size }, layers };
    checkConfigMatches(manifest as never, config);
    for (const l of layers) if (!layerCompression(l.mediaType)) throw invalidArgument(`unsupported layer ${l.digest}`);
    const mBytes = Buffer.from(JSON.stringify(manifest));
    const mDigest = sha256(mBytes);
    await content.writeBytes(mBytes, { digest: mDigest, size: mBytes.length });
    const desc: Descriptor = { mediaType: MT.ociManifest, digest: mDigest, size: mBytes.length };
    const tags = e.RepoTags?.length ? e.RepoTags : [];
    for (const t of tags) {
      const name = formatReference(parseReference(t));
      images.put({ name, target: desc, manifest: desc, created: new Date().toISOString(), source: 'archive' });
      out.push({ name, manifest: desc, imageId: cfgFile.digest });
    }
    if (!tags.length) {
      // Docker keeps untagged images by ID; berth needs a name, so it uses the image ID.
      const name = `localhost/untagged@${mDigest}`;
      images.put({ name, target: desc, manifest: desc, created: new Date().toISOString(), source: 'archive' });
      out.push({ name, manifest: desc, imageId: cfgFile.digest });
    }
  }
  return out;
}
