// The image library the engine, CRI and Docker API call. Everything is rooted at `root`
// (--root, default /var/lib/berth).
export { parseReference, formatReference, familiarName, repoName, type Reference } from './reference.js';
export { pull, type PullOptions, type PullEvent, type PullResult, type Unpacker, type LayerToUnpack } from './pull.js';
export { push, type PushOptions, type PushEvent } from './push.js';
export { saveImages, type ArchiveFormat } from './archive-save.js';
export { loadArchive, type LoadOptions, type LoadedImage } from './archive-load.js';
export { gc, referencedBlobs, type GcOptions, type GcResult } from './gc.js';
export { ImageService, type ImageSummary, type ImageDetails, type LayerInfo } from './images.js';
export { containerConfig, type ContainerConfig } from './container-config.js';
export { chainIds } from './chain-id.js';
export { ContentStore } from './content-store.js';
export { ImageStore, type ImageRecord } from './image-store.js';
export { hostPlatform, parsePlatform, formatPlatform } from './platform.js';
export { authFileForWrite, authFilesForRead, storeCredentials, removeCredentials, lookupCredentials, type Credentials } from './auth-file.js';
export { RegistryClient, type RegistryOptions } from './registry.js';
export type { Descriptor, Manifest, Index, ImageConfig, Platform } from './schemas.js';
