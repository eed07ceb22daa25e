// `berth save`: images as an OCI image-layout tar (what skopeo's oci-archive: and `berth load`
// read) or as a `docker save` archive (manifest.json, <config>.json, <diffid>/layer.tar with
// uncompressed layers, as docker load expects). Written to a temp file and renamed, so a failed
// save leaves no half archive under the asked name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import crypto from 'node:crypto';
import tar from 'tar-stream';
import { dataLoss, invalidArgument } from '../lib/errors.js';
import { ContentStore } from './content-store.js';
import { hexOf } from './digest.js';
import { ImageStore, type ImageRecord } from './image-store.js';
import { parseImageConfig, parseManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './manifest.js';
import { familiarName, parseReference } from './reference.js';
import { findImage } from './lookup.js';
import { decompressor, sniff } from './decompress.js';
import type { Descriptor } from './schemas.js';

export type ArchiveFormat = 'oci-archive' | 'docker-archive';

type Pack = ReturnType<typeof tar.pack>;

function addBuffer(pack: Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((res, rej) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, data, (e) => (e ? rej(e) : res())));
}

async function addFile(pack: Pack, name: string, file: string, size: number): Promise<void> {
  const entry = pack.entry({ name, size, mode: 0o644, mtime: new Date(0) });
  await pipeline(fs.createReadStream(file), entry);
}

export async function saveImages(root: string, names: string[], output: string, format: ArchiveFormat = 'oci-archive'): Promise<void> {
  if (!names.length) throw invalidArgument('save needs at least one image');
  const content = new ContentStore(root);
  const images = new ImageStore(root);
  const recs = names.map((n) => findImage(images, n, content));
  const tmp = path.join(path.dirname(path.resolve(output)), `.${path.basename(output)}.${process.pid}.tmp`);
  const pack = tar.pack();
  const out = fs.createWriteStream(tmp);
  const written = pipeline(pack, out);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-save-'));
  try {
    if (format === 'oci-archive') await writeOci(pack, content, recs);
    else await writeDocker(pack, content, recs, scratch);
    pack.finalize();
    await written;
    fs.renameSync(tmp, output);
  } catch (e) {
    pack.destroy();
    await written.catch(() => {});
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

function manifestOf(content: ContentStore, rec: ImageRecord) {
  const p = parseManifest(content.readBlob(rec.manifest.digest, MAX_MANIFEST_BYTES), rec.manifest.mediaType);
  if (p.kind !== 'manifest') throw invalidArgument(`${rec.name} resolves to an index, not a manifest`);
  return p.manifest;
}

async function writeOci(pack: Pack, content: ContentStore, recs: ImageRecord[]): Promise<void> {
  const done = new Set<string>();
  const addBlob = async (d: Descriptor) => {
    if (done.has(d.digest)) return;
    done.add(d.digest);
    await addFile(pack, `blobs/sha256/${hexOf(d.digest as `sha256:${string}`)}`, content.blobPath(d.digest), d.size);
  };
  await addBuffer(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  const manifests: Descriptor[] = [];
  for (const rec of recs) {
    const m = manifestOf(content, rec);
    for (const b of [m.config, ...m.layers]) await addBlob(b);
    await addBlob(rec.manifest);
    const ref = parseReference(rec.name);
    const annotations: Record<string, string> = { 'io.containerd.image.name': rec.name };
    // The OCI annotation holds just the tag (image-layout spec), as skopeo and podman write it.
    if (ref.tag) annotations['org.opencontainers.image.ref.name'] = ref.tag;
    manifests.push({ mediaType: rec.manifest.mediaType, digest: rec.manifest.digest, size: rec.manifest.size, annotations });
  }
  await addBuffer(pack, 'index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
}

async function writeDocker(pack: Pack, content: ContentStore, recs: ImageRecord[], scratch: string): Promise<void> {
  const entries: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const done = new Set<string>();
  for (const rec of recs) {
    const m = manifestOf(content, rec);
    const config = parseImageConfig(content.readBlob(m.config.digest, MAX_CONFIG_BYTES));
    const cfgName = `${hexOf(m.config.digest as `sha256:${string}`)}.json`;
    if (!done.has(cfgName)) { done.add(cfgName); await addFile(pack, cfgName, content.blobPath(m.config.digest), m.config.size); }
    const layers: string[] = [];
    for (const [i, l] of m.layers.entries()) {
      const diffId = config.rootfs.diff_ids[i];
      const name = `${hexOf(diffId as `sha256:${string}`)}/layer.tar`;
      layers.push(name);
      if (done.has(name)) continue;
      done.add(name);
      // docker-save archives carry uncompressed layers: decompress to scratch, checking the diff_id.
      const blob = content.blobPath(l.digest);
      const fd = fs.openSync(blob, 'r');
      const head = Buffer.alloc(8);
      fs.readSync(fd, head, 0, 8, 0);
      fs.closeSync(fd);
      const tmp = path.join(scratch, 'layer.tar');
      const hash = crypto.createHash('sha256');
      await pipeline(fs.createReadStream(blob), decompressor(sniff(head)), async function* (src) {
        for await (const c of src) { hash.update(c as Buffer); yield c; }
      }, fs.createWriteStream(tmp));
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== diffId) throw dataLoss(`layer ${l.digest} of ${rec.name} unpacks to ${got}, but the config says ${diffId}`);
      await addFile(pack, name, tmp, fs.statSync(tmp).size);
      fs.rmSync(tmp);
    }
    const ref = parseReference(rec.name);
    const tags = ref.tag ? [`${familiarName(ref)}:${ref.tag}`] : [];
    entries.push({ Config: cfgName, RepoTags: tags, Layers: layers });
  }
  await addBuffer(pack, 'manifest.json', Buffer.from(JSON.stringify(entries)));
}
