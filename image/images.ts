// The local image service: list, inspect, tag, remove, and what an image gives a container.
import { failedPrecondition, invalidArgument, notFound } from '../lib/errors.js';
import { ContentStore } from './content-store.js';
import { ImageStore, type ImageRecord } from './image-store.js';
import { parseImageConfig, parseManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './manifest.js';
import { formatReference, parseReference } from './reference.js';
import { chainIds } from './chain-id.js';
import { findImage, findImages } from './lookup.js';
import { containerConfig, type ContainerConfig } from './container-config.js';
import type { Descriptor, ImageConfig, Manifest } from './schemas.js';
import type { Digest } from './digest.js';
import type { Unpacker } from './pull.js';

export interface ImageSummary {
  id: Digest;               // config digest (Docker's image ID)
  names: string[];
  repoDigests: string[];    // registry/repo@<target digest>
  created?: string;         // from the image config
  size: number;             // config + compressed layers
  platform: string;
}

export interface LayerInfo { digest: Digest; mediaType: string; size: number; diffId: Digest; chainId: Digest }

export interface ImageDetails extends ImageSummary {
  target: Descriptor;
  manifest: Descriptor;
  config: ImageConfig;
  layers: LayerInfo[];
  topChainId?: Digest;
}

function load(content: ContentStore, rec: ImageRecord): { manifest: Manifest; config: ImageConfig } {
  const p = parseManifest(content.readBlob(rec.manifest.digest, MAX_MANIFEST_BYTES), rec.manifest.mediaType);
  if (p.kind !== 'manifest') throw failedPrecondition(`${rec.name}: recorded manifest is an index`);
  return { manifest: p.manifest, config: parseImageConfig(content.readBlob(p.manifest.config.digest, MAX_CONFIG_BYTES)) };
}

function repoDigest(rec: ImageRecord): string {
  const r = parseReference(rec.name);
  return `${r.registry}/${r.repository}@${rec.target.digest}`;
}

function details(content: ContentStore, recs: ImageRecord[]): ImageDetails {
  const rec = recs[0];
  const { manifest, config } = load(content, rec);
  const chains = chainIds(config.rootfs.diff_ids);
  const layers = manifest.layers.map((l, i) => ({ digest: l.digest as Digest, mediaType: l.mediaType, size: l.size, diffId: config.rootfs.diff_ids[i] as Digest, chainId: chains[i] }));
  return {
    id: manifest.config.digest as Digest,
    names: recs.filter((r) => parseReference(r.name).tag).map((r) => r.name),
    repoDigests: [...new Set(recs.filter((r) => r.source === 'registry').map(repoDigest))],
    created: config.created,
    size: manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0),
    platform: `${config.os ?? '?'}/${config.architecture ?? '?'}${config.variant ? '/' + config.variant : ''}`,
    target: rec.target,
    manifest: rec.manifest,
    config,
    layers,
    topChainId: chains[chains.length - 1],
  };
}

export class ImageService {
  readonly content: ContentStore;
  readonly images: ImageStore;
  constructor(readonly root: string) {
    this.content = new ContentStore(root);
    this.images = new ImageStore(root);
  }

  /** One entry per image ID, with every name pointing at it. */
  list(): ImageSummary[] {
    const byId = new Map<string, ImageRecord[]>();
    for (const r of this.images.list()) {
      let id: string;
      try { id = load(this.content, r).manifest.config.digest; } catch { continue; }
      byId.set(id, [...(byId.get(id) ?? []), r]);
    }
    const out: ImageSummary[] = [];
    for (const recs of byId.values()) {
      const { target: _t, manifest: _m, config: _c, layers: _l, topChainId: _x, ...summary } = details(this.content, recs);
      out.push(summary);
    }
    return out.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? ''));
  }

  private recordsFor(query: string): ImageRecord[] {
    const hit = findImage(this.images, query, this.content);
    const id = load(this.content, hit).manifest.config.digest;
    // Every name sharing this image ID, the asked one first.
    const same = this.images.list().filter((r) => r.name !== hit.name && (() => { try { return load(this.content, r).manifest.config.digest === id; } catch { return false; } })());
    return [hit, ...same];
  }

  inspect(query: string): ImageDetails {
    return details(this.content, this.recordsFor(query));
  }

  /**
   * The image `query` names, for a container's create: its names are just that one (inspect reads
   * every other image's manifest to find the names sharing its ID: a cost that grows with the store).
   */
  resolve(query: string): ImageDetails {
    return details(this.content, [findImage(this.images, query, this.content)]);
  }

  tag(source: string, target: string): string {
    const rec = findImage(this.images, source, this.content);
    const ref = parseReference(target);
    if (ref.digest) throw invalidArgument(`cannot tag with a digest (${target}): a tag names a mutable pointer`);
    const name = formatReference(ref);
    this.images.put({ ...rec, name, created: new Date().toISOString(), source: 'tag' });
    return name;
  }

  /**
   * Removes names. A name removes just that name; an image ID removes every name of the image,
   * which (as in Docker) needs `force` when there are several.
   */
  remove(query: string, opts: { force?: boolean } = {}): string[] {
    const direct = (() => { try { return this.images.get(formatReference(parseReference(query))); } catch { return undefined; } })();
    if (direct) { this.images.delete(direct.name); return [direct.name]; }
    const recs = findImages(this.images, query, this.content);
    if (!recs.length) throw notFound(`image ${query} is not known locally`);
    const all = this.recordsFor(recs[0].name);
    if (all.length > 1 && !opts.force) {
      throw failedPrecondition(`image ${query} is referenced by ${all.length} names (${all.map((r) => r.name).join(', ')}): remove them by name or use --force`);
    }
    for (const r of all) this.images.delete(r.name);
    return all.map((r) => r.name);
  }

  /** What a container made from this image starts with. */
  containerConfig(query: string): ContainerConfig & { imageId: Digest; name: string; chainIds: Digest[]; layers: LayerInfo[] } {
    const d = this.resolve(query);
    return { ...containerConfig(d.config), imageId: d.id, name: d.names[0] ?? query, chainIds: d.layers.map((l) => l.chainId), layers: d.layers };
  }

  /**
   * Unpacks a local image (pulled with --no-unpack, or loaded) through the caller's unpacker;
   * returns the top chain ID. Unpackers skip chains that already exist.
   */
  async unpack(query: string, unpacker: Unpacker): Promise<string> {
    const d = this.inspect(query);
    for (const l of d.layers) if (!this.content.has(l.digest, l.size)) throw notFound(`layer ${l.digest} of ${query} is not in the content store`);
    return unpacker(d.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, diffId: l.diffId, size: l.size })), (x) => this.content.openBlob(x));
  }

  chainIds(query: string): Digest[] {
    return this.inspect(query).layers.map((l) => l.chainId);
  }
}
