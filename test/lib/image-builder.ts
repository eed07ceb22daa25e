// Builds test images from tar entries into an OCI image layout (oci-layout, index.json, blobs/):
// layers plain, gzip or zstd; configs with diff_ids; manifests (OCI or Docker schema2); indexes.
// Nothing is downloaded: the base layer is the host's busybox-static.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import tar from 'tar-stream';
import { compress as zstdCompress } from 'zstd-napi';

export interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string | Buffer;
  mode?: number;
  linkname?: string;
  uid?: number;
  gid?: number;
}

export type Compression = 'gzip' | 'zstd' | 'none';
export interface Blob { mediaType: string; digest: string; size: number; bytes: Buffer }

const sha = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: new Date(1_700_000_000_000), linkname: e.linkname };
    await new Promise<void>((res, rej) => (type === 'file' ? pack.entry(header, e.content ?? '', (err) => (err ? rej(err) : res())) : pack.entry(header, (err) => (err ? rej(err) : res()))));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function busyboxEntries(applets = ['sh', 'ls', 'cat', 'echo', 'true']): Entry[] {
  return [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', content: fs.readFileSync('/bin/busybox'), mode: 0o755 },
    ...applets.map((a) => ({ name: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
  ];
}

export async function makeLayer(entries: Entry[], compression: Compression = 'gzip', docker = false): Promise<Blob & { diffId: string }> {
  const raw = await tarOf(entries);
  const bytes = compression === 'gzip' ? zlib.gzipSync(raw) : compression === 'zstd' ? Buffer.from(zstdCompress(raw)) : raw;
  const mediaType = docker
    ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
    : compression === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : compression === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : 'application/vnd.oci.image.layer.v1.tar';
  return { mediaType, digest: sha(bytes), size: bytes.length, bytes, diffId: sha(raw) };
}

export interface ImageSpec {
  layers: (Blob & { diffId: string })[];
  architecture?: string;
  os?: string;
  variant?: string;
  config?: Record<string, unknown>;
  docker?: boolean;          // Docker schema2 media types instead of OCI
}

export interface BuiltImage { manifest: Blob; config: Blob; layers: (Blob & { diffId: string })[]; platform: { os: string; architecture: string; variant?: string } }

export function makeImage(spec: ImageSpec): BuiltImage {
  const platform = { os: spec.os ?? 'linux', architecture: spec.architecture ?? 'amd64', ...(spec.variant ? { variant: spec.variant } : {}) };
  const cfg = {
    created: '2026-01-01T00:00:00Z',
    ...platform,
    config: spec.config ?? { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.layers.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'berth test image-builder' })),
  };
  const cfgBytes = Buffer.from(JSON.stringify(cfg));
  const config: Blob = { mediaType: spec.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: sha(cfgBytes), size: cfgBytes.length, bytes: cfgBytes };
  const man = {
    schemaVersion: 2,
    mediaType: spec.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: spec.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const mBytes = Buffer.from(JSON.stringify(man));
  return { manifest: { mediaType: man.mediaType, digest: sha(mBytes), size: mBytes.length, bytes: mBytes }, config, layers: spec.layers, platform };
}

export function makeIndex(images: BuiltImage[], docker = false): Blob {
  const idx = {
    schemaVersion: 2,
    mediaType: docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json',
    manifests: images.map((i) => ({ mediaType: i.manifest.mediaType, digest: i.manifest.digest, size: i.manifest.size, platform: i.platform })),
  };
  const bytes = Buffer.from(JSON.stringify(idx));
  return { mediaType: idx.mediaType, digest: sha(bytes), size: bytes.length, bytes };
}

/** Writes an OCI image layout directory holding `images` (and `index` blobs), tagged `refName`. */
export function writeLayout(dir: string, top: Blob, images: BuiltImage[], refName = 'latest', extra: Blob[] = []): string {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Blob) => fs.writeFileSync(path.join(blobs, b.digest.slice(7)), b.bytes);
  for (const i of images) { put(i.manifest); put(i.config); i.layers.forEach(put); }
  put(top);
  extra.forEach(put);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.size, annotations: { 'org.opencontainers.image.ref.name': refName } }],
  }));
  return dir;
}

/** tar of a directory (the OCI archive `berth load` and skopeo's oci-archive: read). */
export function tarDir(dir: string, out: string): string {
  execFileSync('tar', ['-cf', out, '-C', dir, '.']);
  return out;
}

/** A standard multi-layer test image: busybox base, a layer with whiteouts, a zstd layer. */
export async function standardImage(opts: { architecture?: string; marker?: string; docker?: boolean } = {}): Promise<BuiltImage> {
  const base = await makeLayer(busyboxEntries(), 'gzip', opts.docker);
  const second = await makeLayer([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/hello', content: `hello ${opts.marker ?? ''}\n` },
    { name: 'etc/.wh.passwd', content: '' },
    { name: 'data/', type: 'directory' },
    { name: 'data/.wh..wh..opq', content: '' },
    { name: 'data/file', content: 'x'.repeat(10_000) },
    { name: 'data/hard', type: 'link', linkname: 'data/file' },
  ], 'gzip', opts.docker);
  const layers = [base, second];
  if (!opts.docker) layers.push(await makeLayer([{ name: 'zstd.txt', content: `zstd layer ${opts.marker ?? ''}\n` }], 'zstd'));
  return makeImage({ layers, architecture: opts.architecture, docker: opts.docker, config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin', 'MARKER=' + (opts.marker ?? '')], WorkingDir: '/data', User: '0:0', Labels: { 'org.test': 'yes' }, ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGQUIT' } });
}
