// RuntimeService: RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox.
import { isBerthError } from '../lib/errors.js';
import { opTimer } from '../lib/op-timer.js';
import type { CriContext } from './context.js';
import type { Msg } from './grpc-status.js';
import type { SandboxView } from './sandboxes.js';
import { containersOfSandbox, removeContainer, stopContainer } from './rpc-container.js';

const modeName = { pod: 'POD', container: 'CONTAINER', node: 'NODE' } as const;

function summary(v: SandboxView) {
  const r = v.record;
  return {
    id: r.id, metadata: r.metadata, state: v.ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY', created_at: r.createdAt,
    labels: r.labels, annotations: r.annotations, runtime_handler: r.runtimeHandler ?? '',
  };
}

function matches(v: SandboxView, f: Msg): boolean {
  if (!f) return true;
  if (f.id && !v.record.id.startsWith(f.id)) return false;
  if (f.state && (v.ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY') !== f.state.state) return false;
  for (const [k, val] of Object.entries(f.label_selector ?? {})) if (v.record.labels[k] !== val) return false;
  return true;
}

export function sandboxStatus(v: SandboxView) {
  const r = v.record;
  return {
    ...summary(v),
    network: { ip: r.ip ?? '', additional_ips: [] },
    linux: { namespaces: { options: { network: modeName[r.namespaces.network], pid: modeName[r.namespaces.pid], ipc: modeName[r.namespaces.ipc] } } },
  };
}

export function sandboxHandlers(ctx: CriContext) {
  const sb = ctx.sandboxes;
  return {
    // As containerd, a pod's own lifecycle is reported as container events naming the sandbox id;
    // its STOPPED event comes from the pause container's exit (StopPodSandbox or by itself).
    RunPodSandbox: async (req: Msg) => {
      const tm = opTimer('cri', 'RunPodSandbox', '');
      const id = await sb.run(req.config, req.runtime_handler ?? '');
      tm.mark('run');
      ctx.emit(id, 'CONTAINER_CREATED_EVENT', id);
      const { pauseId } = ctx.records.sandboxes.get(id);
      if (pauseId) ctx.exits.watch(pauseId, id, id);
      ctx.emit(id, 'CONTAINER_STARTED_EVENT', id);
      tm.mark('watch');
      tm.end();
      return { pod_sandbox_id: id };
    },
    StopPodSandbox: async (req: Msg) => {
      const { pauseId } = sb.get(req.pod_sandbox_id).record;
      await sb.stop(req.pod_sandbox_id, (id, t) => stopContainer(ctx, id, t), (id) => containersOfSandbox(ctx, id));
      if (pauseId) ctx.exits.exited(pauseId);
      return {};
    },
    RemovePodSandbox: async (req: Msg) => {
      let id: string;
      try { id = ctx.records.sandboxes.resolve(req.pod_sandbox_id); } catch (e) {
        if (isBerthError(e, 'NOT_FOUND')) return {}; // removing what is gone succeeds (CRI)
        throw e;
      }
      const { pauseId } = ctx.records.sandboxes.get(id);
      for (const c of containersOfSandbox(ctx, id)) await removeContainer(ctx, c);
      await sb.remove(id);
      if (pauseId) ctx.exits.exited(pauseId); // a pod removed without a stop first
      ctx.emit(id, 'CONTAINER_DELETED_EVENT', id);
      return {};
    },
    PodSandboxStatus: (req: Msg) => {
      const v = sb.get(req.pod_sandbox_id);
      const r = v.record;
      const info: Record<string, string> = {};
      if (req.verbose) info.info = JSON.stringify({ pid: v.pausePid ?? 0, pauseContainerId: r.pauseId, cgroupParent: r.cgroupParent, namespaces: r.namespaces });
      return {
        status: sandboxStatus(v),
        info,
        containers_statuses: [],
        timestamp: String(BigInt(Date.now()) * 1_000_000n),
      };
    },
    ListPodSandbox: (req: Msg) => ({ items: sb.list().filter((v) => matches(v, req.filter)).map(summary) }),
  };
}
