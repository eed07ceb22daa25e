// Pull: resolve a reference to a manifest (through an index by platform), then fetch config and
// layers into the content store, each verified, in parallel within a bound; record the image last,
// so a failed pull never leaves a name pointing at missing content.
import { Readable } from 'node:stream';
import { invalidArgument, dataLoss } from '../lib/errors.js';
import { ContentStore } from './content-store.js';
import { checkDigest, sha256, type Digest } from './digest.js';
import { ImageStore } from './image-store.js';
import { checkConfigMatches, parseImageConfig, parseManifest, MAX_CONFIG_BYTES } from './manifest.js';
import { layerCompression } from './media-types.js';
import { hostPlatform, selectManifest, formatPlatform } from './platform.js';
import { formatReference, manifestRef, parseReference } from './reference.js';
import { RegistryClient, type RegistryOptions } from './registry.js';
import type { Descriptor, ImageConfig, Manifest, Platform } from './schemas.js';
import { mapLimit } from './limit.js';
import { withGcShared } from './gc.js';
import { BlobFollower } from './blob-follower.js';

export type PullEvent =
  | { type: 'resolved'; reference: string; digest: Digest; mediaType: string }
  | { type: 'manifest'; digest: Digest; platform?: string }
  | { type: 'layer'; digest: Digest; status: 'waiting' | 'exists' | 'downloading' | 'verified' | 'unpacked'; done: number; total: number }
  | { type: 'unpacked'; chainId: string }
  | { type: 'done'; reference: string; digest: Digest; imageId: Digest };

export interface LayerToUnpack { digest: Digest; mediaType: string; diffId: Digest; size: number }
/** Supplied by the caller that owns a snapshotter (image/ does not know snapshotter/). */
export type Unpacker = (layers: LayerToUnpack[], openBlob: (digest: string) => Readable) => Promise<string>;

export interface PullOptions extends RegistryOptions {
  platform?: Platform;
  concurrency?: number;
  onEvent?: (e: PullEvent) => void;
  unpack?: Unpacker;
}

export interface PullResult {
  name: string;
  target: Descriptor;
  manifest: Descriptor;
  config: ImageConfig;
  imageId: Digest;
  chainId?: string;
}

/**
 * Small blobs (manifests, config) are parsed from memory once verified, and stored meanwhile: their
 * write + fsync + rename is off the critical path, and pull awaits them all before it records the image.
 */
class Stores {
  private readonly pending: Promise<unknown>[] = [];
  add(p: Promise<unknown>): void {
    p.catch(() => {}); // awaited in all(); a pull that fails earlier must not leave an unhandled rejection
    this.pending.push(p);
  }
  all(): Promise<unknown> {
    return Promise.all(this.pending);
  }
  /** Every write has ended (a failed pull must not leave writes running outside its GC lock). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.pending);
  }
}

async function fetchManifestBlob(client: RegistryClient, content: ContentStore, stores: Stores, repo: string, ref: string, expect?: Descriptor) {
  const got = await client.getManifest(repo, ref);
  const digest = sha256(got.bytes);
  if (expect && (digest !== expect.digest || got.bytes.length !== expect.size)) {
    throw dataLoss(`manifest ${ref} of ${client.registry}/${repo} does not match its descriptor (got ${digest}, ${got.bytes.length} bytes)`);
  }
  if (ref.startsWith('sha256:') && digest !== ref) throw dataLoss(`registry served manifest ${digest} when asked for ${ref}`);
  const parsed = parseManifest(got.bytes, got.mediaType);
  stores.add(content.writeBytes(got.bytes, { digest, size: got.bytes.length }));
  const desc: Descriptor = { mediaType: parsed.mediaType, digest, size: got.bytes.length };
  return { parsed, desc };
}

export async function pull(root: string, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  return withGcShared(root, async () => {
    const stores = new Stores();
    try {
      return await pullLocked(root, reference, opts, stores);
    } finally {
      await stores.settled();
    }
  });
}

async function pullLocked(root: string, reference: string, opts: PullOptions, stores: Stores): Promise<PullResult> {
  const ref = parseReference(reference);
  const content = new ContentStore(root);
  const images = new ImageStore(root);
  const client = new RegistryClient(ref.registry, opts);
  const emit = opts.onEvent ?? (() => {});
  const want = opts.platform ?? hostPlatform();

  const top = await fetchManifestBlob(client, content, stores, ref.repository, manifestRef(ref));
  emit({ type: 'resolved', reference: formatReference(ref), digest: top.desc.digest as Digest, mediaType: top.desc.mediaType });

  let manifest: Manifest;
  let manifestDesc: Descriptor;
  if (top.parsed.kind === 'index') {
    const chosen = selectManifest(top.parsed.index.manifests, want);
    const child = await fetchManifestBlob(client, content, stores, ref.repository, checkDigest(chosen.digest), chosen);
    if (child.parsed.kind !== 'manifest') throw invalidArgument(`index entry ${chosen.digest} is not an image manifest`);
    manifest = child.parsed.manifest;
    manifestDesc = { ...child.desc, platform: chosen.platform };
    emit({ type: 'manifest', digest: child.desc.digest as Digest, platform: chosen.platform ? formatPlatform(chosen.platform) : undefined });
  } else {
    manifest = top.parsed.manifest;
    manifestDesc = top.desc;
  }

  const config = await fetchConfig(client, content, stores, ref.repository, manifest.config);
  checkConfigMatches(manifest, config);
  for (const l of manifest.layers) {
    if (!layerCompression(l.mediaType)) throw invalidArgument(`layer ${l.digest} has unsupported media type ${l.mediaType}`);
    checkDigest(l.digest, 'layer digest');
  }

  const layers = manifest.layers;
  // Unpack overlaps the downloads, within and across layers: the unpacker asks for every blob at
  // once and reads each one as its bytes reach the ingest file (BlobFollower).
  const follower = new BlobFollower(content);
  for (const l of layers) emit({ type: 'layer', digest: l.digest as Digest, status: 'waiting', done: 0, total: l.size });
  // Biggest first, as the unpacker applies them: the longest download is not left for last.
  const bySize = [...layers].sort((a, b) => b.size - a.size);
  const downloading = mapLimit(bySize, opts.concurrency ?? 3, async (l) => {
    try {
      const r = await content.fetch({ digest: l.digest as Digest, size: l.size }, blobSource(client, ref.repository, l.digest as Digest),
        (done, total) => { follower.wake(l.digest); emit({ type: 'layer', digest: l.digest as Digest, status: 'downloading', done, total }); });
      follower.settle(l.digest);
      emit({ type: 'layer', digest: l.digest as Digest, status: r === 'exists' ? 'exists' : 'verified', done: l.size, total: l.size });
    } catch (e) {
      follower.settle(l.digest, e);
      throw e;
    }
  }).catch((e) => {
    // Layers never started must not keep the unpacker waiting.
    for (const l of layers) follower.settle(l.digest, e);
    throw e;
  });

  let chainId: string | undefined;
  if (opts.unpack) {
    const toUnpack = layers.map((l, i) => ({ digest: l.digest as Digest, mediaType: l.mediaType, diffId: config.rootfs.diff_ids[i] as Digest, size: l.size }));
    const sizes = new Map(layers.map((l) => [l.digest, l.size]));
    const streamed = opts.unpack(toUnpack, (d) => {
      const size = sizes.get(d);
      if (size === undefined) throw invalidArgument(`unpacker asked for ${d}, which is not a layer of this image`);
      return follower.open(d, size);
    });
    const [dl, up] = await Promise.allSettled([downloading, streamed]);
    if (dl.status === 'rejected') throw dl.reason;
    if (up.status === 'fulfilled') chainId = up.value;
    else {
      // Every blob is now committed and verified: a streamed unpack that failed anyway (a
      // concurrent ingest, a server that ignored Range) is retried from the store once.
      chainId = await opts.unpack(toUnpack, (d) => content.openBlob(d));
    }
    emit({ type: 'unpacked', chainId });
  } else {
    await downloading;
  }

  await stores.all();
  const name = formatReference(ref);
  images.put({ name, target: top.desc, manifest: manifestDesc, created: new Date().toISOString(), source: 'registry' });
  const imageId = manifest.config.digest as Digest;
  emit({ type: 'done', reference: name, digest: top.desc.digest as Digest, imageId });
  return { name, target: top.desc, manifest: manifestDesc, config, imageId, chainId };
}

async function fetchConfig(client: RegistryClient, content: ContentStore, stores: Stores, repo: string, desc: Descriptor): Promise<ImageConfig> {
  const digest = checkDigest(desc.digest, 'config digest');
  if (desc.size > MAX_CONFIG_BYTES) throw invalidArgument(`image config ${digest} is ${desc.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  if (content.has(digest, desc.size)) return parseImageConfig(content.readBlob(digest, MAX_CONFIG_BYTES));
  const bytes = await client.getBlobBytes(repo, digest, desc.size);
  if (bytes.length !== desc.size || sha256(bytes) !== digest) {
    throw dataLoss(`image config from ${client.registry}/${repo} does not match its descriptor ${digest} (${desc.size} bytes)`);
  }
  const config = parseImageConfig(bytes);
  stores.add(content.writeBytes(bytes, { digest, size: desc.size }));
  return config;
}

export function blobSource(client: RegistryClient, repo: string, digest: Digest) {
  return async (offset: number) => {
    const { res, offset: at } = await client.getBlob(repo, digest, offset);
    return { stream: (res.body ?? []) as AsyncIterable<Uint8Array>, offset: at };
  };
}
