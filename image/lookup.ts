// Finding a local image by what users type: a name (normalised like pull), a full or short image
// ID (config digest, as `berth images` shows it), or a manifest digest.
import { invalidArgument, notFound } from '../lib/errors.js';
import { ContentStore } from './content-store.js';
import { ImageStore, type ImageRecord } from './image-store.js';
import { parseManifest, MAX_MANIFEST_BYTES } from './manifest.js';
import { formatReference, parseReference } from './reference.js';

export function imageIdOf(content: ContentStore, r: ImageRecord): string | undefined {
  try {
    const p = parseManifest(content.readBlob(r.manifest.digest, MAX_MANIFEST_BYTES), r.manifest.mediaType);
    return p.kind === 'manifest' ? p.manifest.config.digest : undefined;
  } catch {
    return undefined;
  }
}

/** All records that `query` names (several when it is an image ID shared by tags). */
export function findImages(images: ImageStore, query: string, content?: ContentStore): ImageRecord[] {
  const idQuery = /^(sha256:)?[a-f0-9]{12,64}$/.test(query) ? query.replace(/^sha256:/, '') : undefined;
  // A name wins over an ID prefix (as in Docker), so an image called `cafe12345678` stays reachable.
  try {
    const r = images.get(formatReference(parseReference(query)));
    if (r) return [r];
  } catch (e) {
    if (!idQuery) throw e;
  }
  if (idQuery && content) {
    const all = images.list();
    const hits = all.filter((r) => (imageIdOf(content, r) ?? '').slice(7).startsWith(idQuery) || r.manifest.digest.slice(7).startsWith(idQuery) || r.target.digest.slice(7).startsWith(idQuery));
    const ids = new Set(hits.map((r) => imageIdOf(content, r)));
    if (ids.size > 1) throw invalidArgument(`image ID prefix ${query} is ambiguous (${ids.size} images match)`);
    return hits;
  }
  return [];
}

export function findImage(images: ImageStore, query: string, content: ContentStore): ImageRecord {
  const hits = findImages(images, query, content);
  if (!hits.length) throw notFound(`image ${query} is not known locally (berth pull ${query})`);
  return hits[0];
}
