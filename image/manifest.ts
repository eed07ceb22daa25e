// Manifest documents: size limits, schema1 refused, OCI and Docker schema2 told apart by media type
// (header or the document's own mediaType field, whichever is present).
import { failedPrecondition, invalidArgument, unimplemented } from '../lib/errors.js';
import { INDEX_TYPES, MANIFEST_TYPES, MT } from './media-types.js';
import { validateImageConfig, validateIndex, validateManifest, type ImageConfig, type Index, type Manifest } from './schemas.js';

/** containerd uses 4 MiB for manifests and 8 MiB... berth keeps both conservative. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; index: Index }
  | { kind: 'manifest'; mediaType: string; manifest: Manifest };

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw invalidArgument(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

export function parseManifest(bytes: Uint8Array, headerType?: string): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw invalidArgument(`manifest of ${bytes.length} bytes exceeds the ${MAX_MANIFEST_BYTES}-byte limit`);
  const doc = parseJson(bytes, 'manifest') as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; layers?: unknown; fsLayers?: unknown };
  if (typeof doc !== 'object' || doc === null) throw invalidArgument('manifest is not a JSON object');
  const header = headerType?.split(';')[0].trim();
  const type = typeof doc.mediaType === 'string' ? doc.mediaType : header && header !== 'application/json' && header !== 'application/octet-stream' ? header : undefined;
  if (doc.schemaVersion === 1 || type === MT.dockerSchema1 || type === MT.dockerSchema1Signed || doc.fsLayers) {
    throw unimplemented('Docker image manifest schema 1 is deprecated and not supported; push the image again with a current client (schema 2 or OCI)');
  }
  if (header && typeof doc.mediaType === 'string' && header !== doc.mediaType && [...INDEX_TYPES, ...MANIFEST_TYPES].includes(header)) {
    throw invalidArgument(`manifest says mediaType ${doc.mediaType} but was served as ${header}`);
  }
  // OCI documents may omit mediaType: tell index from manifest by shape.
  const mediaType = type ?? (Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest);
  if (INDEX_TYPES.includes(mediaType)) return { kind: 'index', mediaType, index: validateIndex(doc) };
  if (MANIFEST_TYPES.includes(mediaType)) return { kind: 'manifest', mediaType, manifest: validateManifest(doc) };
  throw failedPrecondition(`unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  if (bytes.length > MAX_CONFIG_BYTES) throw invalidArgument(`image config of ${bytes.length} bytes exceeds the ${MAX_CONFIG_BYTES}-byte limit`);
  return validateImageConfig(parseJson(bytes, 'image config'));
}

/** Checks a manifest and its config agree: one diff_id per layer. */
export function checkConfigMatches(manifest: Manifest, config: ImageConfig): void {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw invalidArgument(`image config lists ${config.rootfs.diff_ids.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
  }
}
