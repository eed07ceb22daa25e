// RuntimeService: ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats.
import fs from 'node:fs';
import path from 'node:path';
import type { CriContext } from './context.js';
import type { Msg } from './grpc-status.js';
import { containerView, type CriContainerView } from './rpc-container.js';
import { cgroupUsage, type CgroupUsage } from './cgroup-stats.js';
import type { SandboxView } from './sandboxes.js';

const u64 = (n: number | undefined) => (n === undefined ? null : { value: String(Math.round(n)) });
const nowNs = () => String(BigInt(Date.now()) * 1_000_000n);

function cgroupsPathOf(bundle: string | undefined): string | undefined {
  if (!bundle) return undefined;
  try { return (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: string } }).linux?.cgroupsPath; } catch { return undefined; }
}

function usageMsgs(u: CgroupUsage, ts: string) {
  return {
    cpu: { timestamp: ts, usage_core_nano_seconds: u64(u.cpuNs), usage_nano_cores: null },
    memory: { timestamp: ts, working_set_bytes: u64(u.workingSet), available_bytes: null, usage_bytes: u64(u.memoryUsage), rss_bytes: u64(u.rss), page_faults: u64(u.pageFaults), major_page_faults: u64(u.majorPageFaults) },
  };
}

function containerStats(v: CriContainerView) {
  const ts = nowNs();
  const cg = v.engine?.status === 'running' || v.engine?.status === 'paused' ? cgroupsPathOf(v.engine.record.bundle) : undefined;
  const u = cg ? cgroupUsage(cg) : {};
  return {
    attributes: { id: v.record.id, metadata: v.record.metadata, labels: v.record.labels, annotations: v.record.annotations },
    ...usageMsgs(u, ts),
    writable_layer: { timestamp: ts, fs_id: { mountpoint: v.engine?.record.rootfs ?? '' }, used_bytes: null, inodes_used: null },
  };
}

function matchesLabels(labels: Record<string, string>, sel: Record<string, string> | undefined): boolean {
  return Object.entries(sel ?? {}).every(([k, val]) => labels[k] === val);
}

export function statsHandlers(ctx: CriContext) {
  const podStats = (s: SandboxView) => {
    const ts = nowNs();
    const u = cgroupUsage(s.record.cgroupParent);
    const containers = ctx.records.containers.list().filter((c) => c.sandboxId === s.record.id).map((c) => containerStats(containerView(ctx, c.id)));
    return {
      attributes: { id: s.record.id, metadata: s.record.metadata, labels: s.record.labels, annotations: s.record.annotations },
      linux: { ...usageMsgs(u, ts), process: { timestamp: ts, process_count: u64(u.pids) }, containers },
    };
  };
  return {
    ContainerStats: (req: Msg) => ({ stats: containerStats(containerView(ctx, req.container_id ?? '')) }),
    ListContainerStats: (req: Msg) => {
      const f = req.filter ?? {};
      const views = ctx.records.containers.list()
        .filter((r) => (!f.id || r.id.startsWith(f.id)) && (!f.pod_sandbox_id || r.sandboxId.startsWith(f.pod_sandbox_id)) && matchesLabels(r.labels, f.label_selector))
        .map((r) => containerView(ctx, r.id))
        .filter((v) => v.engine?.status === 'running');
      return { stats: views.map(containerStats) };
    },
    PodSandboxStats: (req: Msg) => ({ stats: podStats(ctx.sandboxes.get(req.pod_sandbox_id ?? '')) }),
    ListPodSandboxStats: (req: Msg) => {
      const f = req.filter ?? {};
      return { stats: ctx.sandboxes.list().filter((s) => s.ready && (!f.id || s.record.id.startsWith(f.id)) && matchesLabels(s.record.labels, f.label_selector)).map(podStats) };
    },
  };
}
