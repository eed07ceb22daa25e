// ImageService: ListImages, ImageStatus, PullImage, RemoveImage, ImageFsInfo, over the same image
// store and pull as `berth pull`. Registry mirrors: a pull of <registry>/<repo> is fetched from the
// mirror and recorded under the name the kubelet asked for.
import fs from 'node:fs';
import path from 'node:path';
import { isBerthError } from '../lib/errors.js';
import { formatReference, parseReference, type ImageDetails, type ImageSummary, type RegistryOptions } from '../image/index.js';
import type { CriContext } from './context.js';
import type { Msg } from './grpc-status.js';

function uidOf(user: string | undefined): { uid: { value: string } | null; username: string } {
  const u = (user ?? '').split(':')[0];
  if (u === '') return { uid: { value: '0' }, username: '' };
  return /^\d+$/.test(u) ? { uid: { value: u }, username: '' } : { uid: null, username: u };
}

function toImage(s: ImageSummary, user?: string) {
  return {
    id: s.id, repo_tags: s.names, repo_digests: s.repoDigests, size: String(s.size), ...uidOf(user),
    spec: { image: s.id, annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: s.id }, pinned: false,
  };
}

function lookup(ctx: CriContext, ref: string): ImageDetails | undefined {
  try { return ctx.svc.images.inspect(ref); } catch (e) {
    if (isBerthError(e, 'NOT_FOUND') || isBerthError(e, 'INVALID_ARGUMENT')) return undefined;
    throw e;
  }
}

function usage(dir: string): { bytes: number; inodes: number } {
  let bytes = 0, inodes = 0;
  const walk = (d: string) => {
    let ents: fs.Dirent[];
    try { ents = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const p = path.join(d, e.name);
      try { const st = fs.lstatSync(p); bytes += st.blocks * 512; inodes++; } catch { continue; }
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return { bytes, inodes };
}

export function imageHandlers(ctx: CriContext) {
  return {
    ListImages: (req: Msg) => {
      const want = req.filter?.image?.image;
      const hit = want ? lookup(ctx, want) : undefined;
      const all = want ? (hit ? [hit] : []) : ctx.svc.images.list();
      return { images: all.map((s) => toImage(s, lookup(ctx, s.id)?.config.config?.User)) };
    },
    ImageStatus: (req: Msg) => {
      const ref = req.image?.image ?? '';
      const d = ref ? lookup(ctx, ref) : undefined;
      if (!d) return { image: null, info: {} }; // CRI: an unknown image is no error, just absent
      const info: Record<string, string> = {};
      if (req.verbose) info.info = JSON.stringify({ imageSpec: d.config, manifest: d.manifest, target: d.target, platform: d.platform });
      return { image: toImage(d, d.config.config?.User), info };
    },
    PullImage: async (req: Msg) => {
      const asked = req.image?.image ?? '';
      const ref = parseReference(asked);
      const name = formatReference(ref);
      const mirror = ctx.opts.mirrors?.[ref.registry];
      const source = mirror ? formatReference({ ...ref, registry: mirror }) : name;
      const auth = req.auth ?? {};
      let credentials: RegistryOptions['credentials'];
      if (auth.username) credentials = { username: auth.username, password: auth.password ?? '' };
      else if (auth.auth) {
        const dec = Buffer.from(auth.auth, 'base64').toString('utf8');
        const i = dec.indexOf(':');
        if (i > 0) credentials = { username: dec.slice(0, i), password: dec.slice(i + 1) };
      } else if (auth.identity_token || auth.registry_token) {
        ctx.log(`PullImage ${asked}: identity/registry tokens are not supported; pulling with the auth files only`);
      }
      const res = await ctx.svc.pull(source, { registry: { credentials, insecure: ctx.opts.insecureRegistries } });
      if (source !== name) {
        // the image is known by the name the kubelet asked for, not the mirror's
        ctx.svc.images.tag(res.name, name);
        ctx.svc.images.remove(res.name);
      }
      return { image_ref: res.imageId };
    },
    RemoveImage: (req: Msg) => {
      const ref = req.image?.image ?? '';
      const d = lookup(ctx, ref);
      if (!d) return {}; // removing what is gone succeeds (CRI)
      // CRI removes the image, not one name of it: every name goes.
      ctx.svc.images.remove(d.id, { force: true });
      return {};
    },
    ImageFsInfo: () => {
      const ts = String(BigInt(Date.now()) * 1_000_000n);
      const fsInfo = (dir: string) => {
        const u = usage(dir);
        return { timestamp: ts, fs_id: { mountpoint: dir }, used_bytes: { value: String(u.bytes) }, inodes_used: { value: String(u.inodes) } };
      };
      return {
        image_filesystems: [fsInfo(ctx.svc.layout.snapshots)],
        container_filesystems: [fsInfo(ctx.svc.layout.containers)],
      };
    },
  };
}
