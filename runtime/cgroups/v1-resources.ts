// linux.resources -> the cgroup v1 files to write, in order. Pure: the v1 driver performs the writes,
// unit tests check the mapping without root.
import { invalidArgument } from '../../lib/errors.js';
import type { LinuxResources } from '../spec/resources-schema.js';
import { deviceTransition, type parseDevicesList } from './v1-devices.js';

export interface V1Write { controller: string; file: string; value: string }

export interface V1Options {
  /** Whether memory.memsw.* exists (swap accounting); without it swap limits are ignored, as runc does. */
  hasMemsw: boolean;
  /** blkio weight file: cfq's blkio.weight or bfq's blkio.bfq.weight; undefined when neither exists. */
  blkioWeightFile?: 'blkio.weight' | 'blkio.bfq.weight';
  /** The cgroup's current devices.list, parsed; undefined = unknown (start from a blanket reset). */
  devices?: ReturnType<typeof parseDevicesList>;
}

export function v1Writes(r: LinuxResources | undefined, opts: V1Options): V1Write[] {
  const w: V1Write[] = [];
  if (!r) return w;
  const add = (controller: string, file: string, value: string | number) => w.push({ controller, file, value: String(value) });

  if (r.unified && Object.keys(r.unified).length) {
    throw invalidArgument('cgroup: linux.resources.unified needs cgroup v2; this host uses cgroup v1 controllers');
  }

  if (r.devices) {
    for (const d of deviceTransition(r.devices, opts.devices)) add('devices', d.file, d.value);
  }

  const m = r.memory;
  if (m) {
    const limit = m.limit ?? 0;
    let swap = m.swap ?? 0;
    if (limit === -1 && swap === 0) swap = -1;
    if (limit !== 0) add('memory', 'memory.limit_in_bytes', limit);
    if (swap !== 0 && opts.hasMemsw) add('memory', 'memory.memsw.limit_in_bytes', swap);
    if (m.reservation !== undefined && m.reservation !== 0) add('memory', 'memory.soft_limit_in_bytes', m.reservation);
    // memory.kmem.limit_in_bytes is gone from recent kernels; runc ignores `kernel` too.
    if (m.kernelTCP !== undefined && m.kernelTCP !== 0) add('memory', 'memory.kmem.tcp.limit_in_bytes', m.kernelTCP);
    if (m.swappiness !== undefined) {
      if (m.swappiness > 100) throw invalidArgument(`cgroup: memory.swappiness ${m.swappiness} is out of range 0-100`);
      add('memory', 'memory.swappiness', m.swappiness);
    }
    if (m.disableOOMKiller) add('memory', 'memory.oom_control', 1);
  }

  const c = r.cpu;
  if (c) {
    if (c.shares) add('cpu', 'cpu.shares', c.shares);
    if (c.period) add('cpu', 'cpu.cfs_period_us', c.period);
    if (c.quota !== undefined && c.quota !== 0) add('cpu', 'cpu.cfs_quota_us', c.quota);
    if (c.burst !== undefined) add('cpu', 'cpu.cfs_burst_us', c.burst);
    // rt_period before rt_runtime: the runtime must fit in the period.
    if (c.realtimePeriod) add('cpu', 'cpu.rt_period_us', c.realtimePeriod);
    if (c.realtimeRuntime) add('cpu', 'cpu.rt_runtime_us', c.realtimeRuntime);
    if (c.idle !== undefined) add('cpu', 'cpu.idle', c.idle);
    if (c.cpus) add('cpuset', 'cpuset.cpus', c.cpus);
    if (c.mems) add('cpuset', 'cpuset.mems', c.mems);
  }

  if (r.pids && r.pids.limit !== 0) add('pids', 'pids.max', r.pids.limit > 0 ? r.pids.limit : 'max');

  const b = r.blockIO;
  if (b) {
    if (b.weight) {
      if (!opts.blkioWeightFile) throw invalidArgument('cgroup: blockIO.weight is not supported by this kernel (no blkio.weight or blkio.bfq.weight)');
      add('blkio', opts.blkioWeightFile, b.weight);
    }
    if (b.leafWeight) add('blkio', 'blkio.leaf_weight', b.leafWeight);
    for (const d of b.weightDevice ?? []) {
      if (d.weight) {
        if (!opts.blkioWeightFile) throw invalidArgument('cgroup: blockIO.weightDevice is not supported by this kernel');
        add('blkio', opts.blkioWeightFile === 'blkio.bfq.weight' ? 'blkio.bfq.weight' : 'blkio.weight_device', `${d.major}:${d.minor} ${d.weight}`);
      }
      if (d.leafWeight) add('blkio', 'blkio.leaf_weight_device', `${d.major}:${d.minor} ${d.leafWeight}`);
    }
    const throttle = (list: typeof b.throttleReadBpsDevice, file: string) => {
      for (const d of list ?? []) add('blkio', file, `${d.major}:${d.minor} ${d.rate ?? 0}`);
    };
    throttle(b.throttleReadBpsDevice, 'blkio.throttle.read_bps_device');
    throttle(b.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device');
    throttle(b.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device');
    throttle(b.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device');
  }

  for (const h of r.hugepageLimits ?? []) add('hugetlb', `hugetlb.${h.pageSize}.limit_in_bytes`, h.limit);

  if (r.network) {
    if (r.network.classID !== undefined) add('net_cls', 'net_cls.classid', r.network.classID);
    for (const p of r.network.priorities ?? []) add('net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
  }

  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    const parts: string[] = [];
    if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
    if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
    if (parts.length) add('rdma', 'rdma.max', `${dev} ${parts.join(' ')}`);
  }
  return w;
}
