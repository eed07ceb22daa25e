// linux.resources -> the cgroup v2 files to write, in order (device rules excepted: those become a
// BPF program, see device-filter.ts). Pure, so unit tests check the mapping without root.
import { invalidArgument } from '../../lib/errors.js';
import type { LinuxResources } from '../spec/resources-schema.js';
import { blkioWeightToIoWeight, cpuMax, cpuSharesToWeight, maxOr, memorySwapToV2 } from './convert.js';

export interface V2Write { file: string; value: string }

export interface V2Options {
  /** io.bfq.weight exists: then weights are written there unconverted (same 1-1000 scale). */
  hasBfq?: boolean;
}

// Files the manager itself drives; letting `unified` write them would bypass create/freeze/kill.
const RESERVED_UNIFIED = new Set(['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control', 'cgroup.freeze', 'cgroup.kill', 'cgroup.type']);

export function checkUnifiedName(name: string): void {
  if (!/^[a-z][a-z0-9_]*\.[A-Za-z0-9_.]+$/.test(name) || name.includes('..')) {
    throw invalidArgument(`cgroup: linux.resources.unified key ${JSON.stringify(name)} is not a cgroup v2 file name (controller.file)`);
  }
  if (RESERVED_UNIFIED.has(name)) throw invalidArgument(`cgroup: linux.resources.unified may not set ${name} (berth manages it)`);
}

export function v2Writes(r: LinuxResources | undefined, opts: V2Options = {}): V2Write[] {
  const w: V2Write[] = [];
  if (!r) return w;
  const add = (file: string, value: string | number) => w.push({ file, value: String(value) });

  const m = r.memory;
  if (m) {
    const limit = m.limit ?? 0;
    const swap = memorySwapToV2(m.swap ?? 0, limit);
    // swap first: lowering memory.max can push pages to swap that a smaller swap.max would refuse.
    // 0 from the conversion means "unset" unless swap was given equal to the limit: then no swap at all.
    if (swap !== 0) add('memory.swap.max', maxOr(swap));
    else if ((m.swap ?? 0) > 0) add('memory.swap.max', '0');
    if (limit !== 0) add('memory.max', maxOr(limit));
    if (m.reservation !== undefined && m.reservation !== 0) add('memory.low', maxOr(m.reservation));
    // kernel, kernelTCP, swappiness, disableOOMKiller have no v2 file; runc ignores them as well.
  }

  const c = r.cpu;
  if (c) {
    if (c.realtimeRuntime || c.realtimePeriod) throw invalidArgument('cgroup: cpu.realtimeRuntime/realtimePeriod are not supported on cgroup v2');
    if (c.shares) add('cpu.weight', cpuSharesToWeight(c.shares));
    const max = cpuMax(c.quota, c.period);
    if (max) add('cpu.max', max);
    if (c.burst !== undefined) add('cpu.max.burst', c.burst);
    if (c.idle !== undefined) add('cpu.idle', c.idle);
    if (c.cpus) add('cpuset.cpus', c.cpus);
    if (c.mems) add('cpuset.mems', c.mems);
  }

  if (r.pids && r.pids.limit !== 0) add('pids.max', maxOr(r.pids.limit));

  const b = r.blockIO;
  if (b) {
    const weightFile = opts.hasBfq ? 'io.bfq.weight' : 'io.weight';
    const conv = (x: number) => (opts.hasBfq ? x : blkioWeightToIoWeight(x));
    if (b.weight) add(weightFile, conv(b.weight));
    for (const d of b.weightDevice ?? []) if (d.weight) add(weightFile, `${d.major}:${d.minor} ${conv(d.weight)}`);
    const throttle = (list: typeof b.throttleReadBpsDevice, key: string) => {
      for (const d of list ?? []) add('io.max', `${d.major}:${d.minor} ${key}=${d.rate ? d.rate : 'max'}`);
    };
    throttle(b.throttleReadBpsDevice, 'rbps');
    throttle(b.throttleWriteBpsDevice, 'wbps');
    throttle(b.throttleReadIOPSDevice, 'riops');
    throttle(b.throttleWriteIOPSDevice, 'wiops');
  }

  for (const h of r.hugepageLimits ?? []) add(`hugetlb.${h.pageSize}.max`, h.limit);

  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    const parts: string[] = [];
    if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
    if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
    if (parts.length) add('rdma.max', `${dev} ${parts.join(' ')}`);
  }

  if (r.network && (r.network.classID !== undefined || r.network.priorities?.length)) {
    throw invalidArgument('cgroup: linux.resources.network (net_cls/net_prio) does not exist on cgroup v2');
  }

  // Last, so an explicit unified value overrides the converted one (as runc does).
  for (const [k, v] of Object.entries(r.unified ?? {})) {
    checkUnifiedName(k);
    add(k, v);
  }
  return w;
}
