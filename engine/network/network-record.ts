// What berth remembers about one container's network: <dataDir>/results/<id>.json. Written before
// ADD (phase "adding") so a crash mid-ADD still gets a DEL, and again with the ADD result (phase
// "ready") to feed DEL/CHECK and to answer status. The config used at ADD is kept too: DEL must run
// against the network the container joined even if the config dir changed since.
import fs from 'node:fs';
import path from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { writeJsonAtomic, writeJsonAtomicAsync } from '../../lib/atomic-write.js';
import { dataLoss } from '../../lib/errors.js';
import { schemaValidator } from '../../lib/schema-validator.js';
import { confListSchema, resultSchema } from './cni-schemas.js';

const portMapping = {
  type: 'object',
  required: ['hostPort', 'containerPort', 'protocol'],
  additionalProperties: false,
  properties: {
    hostPort: { type: 'integer', minimum: 1, maximum: 65535 },
    containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
    protocol: { enum: ['tcp', 'udp', 'sctp'] },
    hostIP: { type: 'string' },
  },
} as const;
export const portMappingSchema = portMapping;

export const networkRecordSchema = {
  type: 'object',
  required: ['id', 'phase', 'netnsPath', 'ownsNetns', 'ifName', 'confList', 'configSource', 'portMappings', 'created'],
  properties: {
    id: { type: 'string' },
    phase: { enum: ['adding', 'ready'] },
    netnsPath: { type: 'string' },
    ownsNetns: { type: 'boolean' },    // berth created the namespace for this id, so teardown removes it
    ifName: { type: 'string' },
    confList: confListSchema,
    configSource: { type: 'string' },
    portMappings: { type: 'array', items: portMapping },
    args: { type: 'object', additionalProperties: { type: 'string' } },   // CNI_ARGS, given to DEL/CHECK too
    loopback: resultSchema,
    result: resultSchema,
    created: { type: 'string' },
    // set by the native bridge driver (native-bridge.ts): teardown follows it, whatever BERTH_NET_DRIVER says now
    driver: { enum: ['cni', 'native'] },
    hostVeth: { type: 'string' },
    // the native driver's own iptables chains (nat-rules.ts), named before anything is applied; jumps
    // (the rules that enter them) once applied. Absent on a native record with ports: portmap's (older berth).
    nat: {
      type: 'object',
      required: ['chains'],
      additionalProperties: false,
      properties: { chains: { type: 'array', items: { type: 'string' } }, jumps: { type: 'array', items: { type: 'string' } } },
    },
  },
} as const;
export type NetworkRecord = FromSchema<typeof networkRecordSchema>;

export class RecordStore {
  constructor(readonly dir: string) {}
  file(id: string): string { return path.join(this.dir, `${id}.json`); }

  read(id: string): NetworkRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file(id), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let doc: unknown;
    try { doc = JSON.parse(text); } catch { throw dataLoss(`network record ${this.file(id)} is not valid JSON`); }
    const v = schemaValidator('network.record', networkRecordSchema);
    if (!v(doc)) throw dataLoss(`network record ${this.file(id)} is invalid: ${v.errors?.[0]?.instancePath} ${v.errors?.[0]?.message}`);
    return doc as NetworkRecord;
  }

  /**
   * On the libuv pool: a setup runs beside a container's create, whose steps would otherwise wait
   * on this fsync. `durable: false` for a phase change that a crash may lose (ready -> adding is a
   * half-finished setup, which teardown handles).
   */
  async write(rec: NetworkRecord, opts: { durable?: boolean } = {}): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (opts.durable === false) writeJsonAtomic(this.file(rec.id), rec, 0o600, { durable: false });
    else await writeJsonAtomicAsync(this.file(rec.id), rec, 0o600);
  }

  remove(id: string): void {
    fs.rmSync(this.file(id), { force: true });
  }

  list(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5));
    } catch {
      return [];
    }
  }
}
