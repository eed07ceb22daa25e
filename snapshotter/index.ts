// snapshotter/: layer applier, overlay and copy snapshotters, unpack of image layers into chains.
export type { Mount, Snapshotter, SnapshotInfo, SnapshotKind, SnapshotterKind, LayerToUnpack, UnpackProgress, OpenBlob } from './types.js';
export { mountAll, unmountAll } from './mount.js';
export { applyLayer, type ApplyOptions, type ApplyMode } from './apply.js';
export { unpackLayers, type UnpackOptions } from './unpack.js';
export { chainIds, assertDigest } from './digest.js';
export { UNPACK_LABEL } from './snapshot-store.js';
export { openSnapshotter } from './open.js';
