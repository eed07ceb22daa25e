import fs from 'node:fs';
import type { Command, CommandContext } from '../command.js';
import { num, str } from '../command.js';
import { invalidArgument } from '../../../lib/errors.js';
import type { LinuxResources } from '../../spec/resources-schema.js';
import { updateContainer } from '../../container/update.js';

export const command: Command = {
  usage: '<container-id>',
  summary: 'update container resource constraints',
  flags: [
    { name: 'resources', aliases: ['r'], type: 'string', help: 'path to a file with the resources to update (LinuxResources JSON), or "-" for stdin' },
    { name: 'blkio-weight', type: 'int', help: 'block IO weight (10..1000)' },
    { name: 'cpu-period', type: 'string', help: 'CPU CFS period in microseconds' },
    { name: 'cpu-quota', type: 'string', help: 'CPU CFS quota in microseconds (-1: unlimited)' },
    { name: 'cpu-share', aliases: ['cpu-shares'], type: 'string', help: 'CPU shares (relative weight)' },
    { name: 'cpu-rt-period', type: 'string', help: 'CPU realtime period in microseconds' },
    { name: 'cpu-rt-runtime', type: 'string', help: 'CPU realtime runtime in microseconds' },
    { name: 'cpuset-cpus', type: 'string', help: 'CPUs to use (0-3, 0,1)' },
    { name: 'cpuset-mems', type: 'string', help: 'memory nodes to use (0-3, 0,1)' },
    { name: 'memory', type: 'string', help: 'memory limit (in bytes, or with a k/m/g suffix; -1: unlimited)' },
    { name: 'memory-reservation', type: 'string', help: 'memory reservation or soft limit' },
    { name: 'memory-swap', type: 'string', help: 'total memory usage (memory + swap); -1: unlimited swap' },
    { name: 'kernel-memory', type: 'string', help: 'ignored (kernel memory limits are deprecated)', ignored: true },
    { name: 'kernel-memory-tcp', type: 'string', help: 'ignored', ignored: true },
    { name: 'pids-limit', type: 'int', help: 'maximum number of pids allowed in the container' },
    { name: 'l3-cache-schema', type: 'string', help: 'Intel RDT (not supported)' },
    { name: 'mem-bw-schema', type: 'string', help: 'Intel RDT (not supported)' },
  ],
  args: 1,
  async run(ctx) {
    const patch = await resourcesFrom(ctx);
    await updateContainer(ctx.rt, ctx.args[0], patch);
    return 0;
  },
};

async function resourcesFrom({ flags, io }: CommandContext): Promise<LinuxResources> {
  if (str(flags['l3-cache-schema']) || str(flags['mem-bw-schema'])) throw invalidArgument('update: Intel RDT is not supported by berth-runtime');
  const file = str(flags.resources);
  if (file) {
    const text = file === '-' ? io.readStdin() : fs.readFileSync(file, 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw invalidArgument(`update: ${file === '-' ? 'stdin' : file} is not valid JSON: ${(e as Error).message}`);
    }
    return await validateResources(json, file === '-' ? 'resources (stdin)' : file);
  }
  const r: Record<string, Record<string, unknown>> = {};
  const set = (section: string, key: string, v: unknown) => {
    if (v === undefined) return;
    (r[section] ??= {})[key] = v;
  };
  set('memory', 'limit', bytes(flags.memory, 'memory'));
  set('memory', 'reservation', bytes(flags['memory-reservation'], 'memory-reservation'));
  set('memory', 'swap', bytes(flags['memory-swap'], 'memory-swap'));
  set('cpu', 'period', integer(flags['cpu-period'], 'cpu-period'));
  set('cpu', 'quota', integer(flags['cpu-quota'], 'cpu-quota'));
  set('cpu', 'shares', integer(flags['cpu-share'], 'cpu-share'));
  set('cpu', 'realtimePeriod', integer(flags['cpu-rt-period'], 'cpu-rt-period'));
  set('cpu', 'realtimeRuntime', integer(flags['cpu-rt-runtime'], 'cpu-rt-runtime'));
  set('cpu', 'cpus', str(flags['cpuset-cpus']));
  set('cpu', 'mems', str(flags['cpuset-mems']));
  set('pids', 'limit', num(flags['pids-limit']));
  set('blockIO', 'weight', num(flags['blkio-weight']));
  if (!Object.keys(r).length) throw invalidArgument('update: nothing to update: give --resources or at least one limit flag');
  return await validateResources(r, 'update flags');
}

async function validateResources(json: unknown, what: string): Promise<LinuxResources> {
  const [{ Ajv }, { linuxResourcesSchema }] = await Promise.all([import('ajv'), import('../../spec/resources-schema.js')]);
  const v = new Ajv({ strict: false }).compile(linuxResourcesSchema);
  if (!v(json)) {
    const e = v.errors?.[0];
    throw invalidArgument(`${what}: ${e ? `${e.instancePath || '/'} ${e.message}` : 'invalid'}`);
  }
  return json as LinuxResources;
}

function integer(v: unknown, name: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!/^-?\d+$/.test(s)) throw invalidArgument(`update: invalid value for --${name}: ${JSON.stringify(s)}`);
  return Number(s);
}

/** docker/go-units RAMInBytes: 512, 100k, 64m, 1g, 1.5G, -1 for unlimited. */
export function bytes(v: unknown, name: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (s === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(s);
  if (!m) throw invalidArgument(`update: invalid value for --${name}: ${JSON.stringify(s)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase() as '' | 'k'];
  return Math.floor(Number(m[1]) * mult);
}
