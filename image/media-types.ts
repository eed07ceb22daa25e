// Media types berth understands (image-spec 1.1 and Docker's schema2).
export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export const MANIFEST_TYPES: readonly string[] = [MT.ociManifest, MT.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MT.ociIndex, MT.dockerList];

/** The Accept header for manifest requests: every type berth can read, best first. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

export type Compression = 'gzip' | 'zstd' | 'none';

export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MT.ociLayerGzip: case MT.dockerLayerGzip: case MT.dockerForeignGzip: case MT.ociLayerNondistGzip: return 'gzip';
    case MT.ociLayerZstd: case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': return 'zstd';
    case MT.ociLayer: case 'application/vnd.docker.image.rootfs.diff.tar': case 'application/vnd.oci.image.layer.nondistributable.v1.tar': return 'none';
    default: return undefined;
  }
}
