// RuntimeService: CreateContainer, StartContainer, StopContainer, RemoveContainer, ListContainers,
// ContainerStatus, UpdateContainerResources, ReopenContainerLog. State comes from the container
// service; CRI's own record only adds what the kubelet said (metadata, labels, log path).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { failedPrecondition, invalidArgument, isBerthError } from '../lib/errors.js';
import type { ContainerView } from '../engine/service.js';
import type { CriContext } from './context.js';
import { containerKey, type CriContainerRecord } from './records.js';
import type { Msg } from './grpc-status.js';
import { criResourcesFromSpec, linuxResourcesFromCri, translateContainer } from './container-config.js';
import { updateResources } from '../engine/update-resources.js';
import { readJson } from '../lib/atomic-write.js';
import { isoToNs, nowNs } from './timestamps.js';
import { opTimer } from '../lib/op-timer.js';

export interface CriContainerView { record: CriContainerRecord; engine?: ContainerView }

export function containerView(ctx: CriContext, id: string): CriContainerView {
  const record = ctx.records.containers.get(ctx.records.containers.resolve(id));
  try {
    return { record, engine: ctx.svc.view(ctx.svc.resolve(record.id)) };
  } catch (e) {
    if (isBerthError(e, 'NOT_FOUND')) return { record };
    throw e;
  }
}

export function containersOfSandbox(ctx: CriContext, sandboxId: string): string[] {
  return ctx.records.containers.list().filter((c) => c.sandboxId === sandboxId).map((c) => c.id);
}

function criState(v: CriContainerView): string {
  switch (v.engine?.status) {
    case 'created': return 'CONTAINER_CREATED';
    case 'running': case 'paused': return 'CONTAINER_RUNNING';
    case 'exited': case 'dead': return 'CONTAINER_EXITED';
    default: return 'CONTAINER_UNKNOWN';
  }
}

function imageSpec(r: CriContainerRecord) {
  return { image: r.image, annotations: {}, user_specified_image: r.image, runtime_handler: '', image_ref: r.imageRef ?? '' };
}

export async function stopContainer(ctx: CriContext, id: string, timeoutS: number): Promise<void> {
  const v = containerView(ctx, id);
  if (!v.engine) return;
  await ctx.svc.stop(v.record.id, Math.max(0, timeoutS));
  ctx.exits.exited(v.record.id);
}

export async function removeContainer(ctx: CriContext, id: string): Promise<void> {
  let rec: CriContainerRecord;
  try { rec = ctx.records.containers.get(ctx.records.containers.resolve(id)); } catch (e) {
    if (isBerthError(e, 'NOT_FOUND')) return; // removing what is gone succeeds (CRI)
    throw e;
  }
  try { await ctx.svc.remove(rec.id, { force: true }); } catch (e) { if (!isBerthError(e, 'NOT_FOUND')) throw e; }
  ctx.exits.exited(rec.id);
  resourcesCache.delete(rec.id);
  // The log at the kubelet's path stays: the kubelet removes it with the container's log directory.
  ctx.records.containers.delete(rec.id);
  ctx.emit(rec.id, 'CONTAINER_DELETED_EVENT', rec.sandboxId);
}

/**
 * The kubelet polls ContainerStatus; config.json (tens of KB with its seccomp profile) only changes
 * by UpdateContainerResources, which renames a new file into place: read again only then.
 */
const resourcesCache = new Map<string, { ino: bigint; mtimeNs: bigint; resources: Msg | null }>();

function resourcesOf(e: ContainerView | undefined): Msg | null {
  if (!e) return null;
  const file = path.join(e.record.bundle, 'config.json');
  // a container being removed has no bundle left: no resources to report
  const st = fs.statSync(file, { throwIfNoEntry: false, bigint: true });
  if (!st) {
    resourcesCache.delete(e.record.id);
    return null;
  }
  const hit = resourcesCache.get(e.record.id);
  if (hit && hit.ino === st.ino && hit.mtimeNs === st.mtimeNs) return hit.resources;
  let resources: Msg | null;
  try { resources = criResourcesFromSpec(readJson(file)); } catch { resources = null; }
  resourcesCache.set(e.record.id, { ino: st.ino, mtimeNs: st.mtimeNs, resources });
  return resources;
}

export function containerStatus(ctx: CriContext, v: CriContainerView) {
  const r = v.record;
  const e = v.engine;
  const exit = e?.exit;
  let reason = '';
  let message = '';
  if (exit) {
    reason = exit.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error';
    if (exit.reason === 'monitor died') message = 'the container monitor died without recording an exit status';
  }
  const finishedNs = isoToNs(exit?.exitedAt);
  let startedNs = isoToNs(e?.record.startedAt);
  // The service records the start once `start` returned; a short-lived process may have exited before.
  if (finishedNs !== '0' && BigInt(startedNs) > BigInt(finishedNs)) startedNs = finishedNs;
  return {
    id: r.id, metadata: r.metadata, state: criState(v), created_at: r.createdAt,
    started_at: startedNs, finished_at: finishedNs, exit_code: exit?.exitCode ?? 0,
    image: imageSpec(r), image_ref: r.imageRef ?? '', reason, message, labels: r.labels, annotations: r.annotations,
    mounts: r.mounts ?? [], log_path: r.logPath, image_id: r.imageRef ?? '', resources: resourcesOf(e),
  };
}

function summary(v: CriContainerView) {
  const r = v.record;
  return {
    id: r.id, pod_sandbox_id: r.sandboxId, metadata: r.metadata, image: imageSpec(r), image_ref: r.imageRef ?? '',
    state: criState(v), created_at: r.createdAt, labels: r.labels, annotations: r.annotations, image_id: r.imageRef ?? '',
  };
}

function matches(v: CriContainerView, f: Msg): boolean {
  if (!f) return true;
  if (f.id && !v.record.id.startsWith(f.id)) return false;
  if (f.pod_sandbox_id && !v.record.sandboxId.startsWith(f.pod_sandbox_id)) return false;
  if (f.state && criState(v) !== f.state.state) return false;
  for (const [k, val] of Object.entries(f.label_selector ?? {})) if (v.record.labels[k] !== val) return false;
  return true;
}

export function containerHandlers(ctx: CriContext) {
  return {
    CreateContainer: async (req: Msg) => {
      const tm = opTimer('cri', 'create-container', String(req.pod_sandbox_id ?? '').slice(0, 12));
      const sb = ctx.sandboxes.get(req.pod_sandbox_id ?? '');
      tm.mark('sandbox');
      if (!sb.ready) throw failedPrecondition(`pod sandbox ${sb.record.id} is not ready: cannot create containers in it`);
      const config = req.config ?? {};
      const md = config.metadata ?? {};
      const attempt = Number(md.attempt ?? 0);
      const exists = (holder: string) => invalidArgument(`container ${md.name} attempt ${attempt} already exists in pod sandbox ${sb.record.id} as ${holder}`);
      const earlier = ctx.records.containers.byKey(containerKey({ sandboxId: sb.record.id, metadata: { name: md.name, attempt } }));
      if (earlier) throw exists(earlier);
      const { req: create, notes } = translateContainer(config, {
        view: sb, filesDir: ctx.sandboxes.filesDir(sb.record.id), ns: (n) => ctx.sandboxes.nsPath(sb, n),
        targetPidNs: (target) => {
          const t = containerView(ctx, target);
          if (t.engine?.status !== 'running' || !t.engine.pid) throw failedPrecondition(`target container ${target} is not running`);
          return `/proc/${t.engine.pid}/ns/pid`;
        },
      }, { cgroupLeaf: `berth-${crypto.randomBytes(8).toString('hex')}` });
      for (const n of notes) ctx.log(`CreateContainer ${md.name}: ${n}`);
      const name = `k8s_${md.name}_${sb.record.metadata.name}_${sb.record.metadata.namespace}_${sb.record.metadata.uid}_${attempt}`
        .replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 120) + '_' + crypto.randomBytes(3).toString('hex');
      const logPath = sb.record.logDirectory && config.log_path ? path.join(sb.record.logDirectory, config.log_path) : '';
      if (logPath) fs.mkdirSync(path.dirname(logPath), { recursive: true, mode: 0o755 });
      tm.mark('translate');
      // The monitor writes the CRI-format log right at the kubelet's path (rotation + ReopenContainerLog work on it).
      const engineRec = await ctx.svc.create({ ...create, name, ...(logPath ? { logPath } : {}) });
      tm.mark('engine');
      const record: CriContainerRecord = {
        id: engineRec.id, sandboxId: sb.record.id, metadata: { name: md.name, attempt }, image: config.image?.image ?? '',
        imageRef: engineRec.imageId ?? '', createdAt: nowNs(), labels: { ...(config.labels ?? {}) },
        annotations: { ...(config.annotations ?? {}) }, logPath,
        mounts: (config.mounts ?? []).map((m: Msg) => ({ container_path: m.container_path, host_path: m.host_path, readonly: Boolean(m.readonly), selinux_relabel: Boolean(m.selinux_relabel), propagation: m.propagation ?? 'PROPAGATION_PRIVATE' })),
      };
      let racing: string | undefined;
      try {
        racing = await ctx.records.containers.add(record, { beside: true });
      } catch (e) {
        await ctx.svc.remove(engineRec.id, { force: true }).catch(() => undefined);
        throw e;
      }
      if (racing) {
        await ctx.svc.remove(engineRec.id, { force: true }).catch(() => undefined);
        throw exists(racing);
      }
      tm.mark('record');
      ctx.emit(record.id, 'CONTAINER_CREATED_EVENT', record.sandboxId);
      tm.end();
      return { container_id: record.id };
    },
    StartContainer: async (req: Msg) => {
      const tm = opTimer('cri', 'start-container', String(req.container_id ?? '').slice(0, 12));
      const v = containerView(ctx, req.container_id ?? '');
      tm.mark('view');
      if (!v.engine) throw failedPrecondition(`container ${v.record.id} has no runtime state left`);
      if (v.engine.status !== 'created') throw failedPrecondition(`container ${v.record.id} is ${v.engine.status}: only a created container can be started`);
      await ctx.svc.start(v.record.id);
      tm.mark('engine');
      ctx.emit(v.record.id, 'CONTAINER_STARTED_EVENT', v.record.sandboxId);
      ctx.exits.watch(v.record.id, v.record.sandboxId);
      tm.mark('watch');
      tm.end();
      return {};
    },
    StopContainer: async (req: Msg) => {
      await stopContainer(ctx, req.container_id ?? '', Number(req.timeout ?? 0));
      return {};
    },
    RemoveContainer: async (req: Msg) => {
      await removeContainer(ctx, req.container_id ?? '');
      return {};
    },
    ListContainers: (req: Msg) => ({
      containers: ctx.records.containers.list().map((r) => containerView(ctx, r.id)).filter((v) => matches(v, req.filter)).map(summary),
    }),
    ContainerStatus: (req: Msg) => {
      const v = containerView(ctx, req.container_id ?? '');
      const info: Record<string, string> = {};
      if (req.verbose) info.info = JSON.stringify({ pid: v.engine?.pid ?? 0, sandboxId: v.record.sandboxId, bundle: v.engine?.record.bundle });
      return { status: containerStatus(ctx, v), info };
    },
    UpdateContainerResources: async (req: Msg) => {
      const v = containerView(ctx, req.container_id ?? '');
      if (!v.engine) throw failedPrecondition(`container ${v.record.id} has no runtime state left`);
      const patch = linuxResourcesFromCri(req.linux ?? {});
      if (Object.keys(patch).length) await updateResources(ctx.svc, v.record.id, patch);
      return {};
    },
    ReopenContainerLog: async (req: Msg) => {
      const v = containerView(ctx, req.container_id ?? '');
      if (v.engine?.status !== 'running') throw failedPrecondition(`container ${v.record.id} is not running: its log cannot be reopened`);
      await ctx.svc.monitorOf(v.record.id).reopenLog();
      return {};
    },
  };
}
