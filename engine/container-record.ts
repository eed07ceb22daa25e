// The container service's record of one container: <root>/containers/<id>/container.json.
// Declared once as a schema: the type is inferred from it and records read back are validated,
// so a hand-edited or truncated file is reported, not trusted.
import type { FromSchema } from 'json-schema-to-ts';
import { schemaValidator } from '../lib/schema-validator.js';
import { dataLoss } from '../lib/errors.js';

const strMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const timelinePhases = ['resolve', 'pull', 'unpack', 'mount', 'create', 'start'] as const;

export const containerRecordSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^[a-f0-9]{64}$' },
    name: { type: 'string' },
    image: { type: 'string' },          // the reference the user gave
    imageId: { type: 'string' },        // config digest
    created: { type: 'string' },
    snapshotKey: { type: 'string' },
    bundle: { type: 'string' },
    rootfs: { type: 'string' },
    labels: strMap,
    tty: { type: 'boolean' },
    stdin: { type: 'boolean' },
    // a client leaving the attach closes the container's stdin; absent (older records): same as stdin
    stdinOnce: { type: 'boolean' },
    autoRemove: { type: 'boolean' },
    restartPolicy: { type: 'string', enum: ['no', 'on-failure', 'always', 'unless-stopped'] },
    stopSignal: { type: 'string' },
    stopTimeout: { type: 'integer', minimum: 0 },
    // the container's resolved command line (entrypoint + cmd), what ps shows
    args: { type: 'array', items: { type: 'string' } },
    // what the user asked for (kept so inspect and restart can show/reuse it)
    options: { type: 'object' },
    timeline: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          phase: { type: 'string', enum: timelinePhases },
          startedAt: { type: 'string' },
          ms: { type: 'number' },
        },
        required: ['phase', 'startedAt', 'ms'],
      },
    },
    startedAt: { type: 'string' },
    restartCount: { type: 'integer', minimum: 0 },
    // 'bridge' when the container has its own CNI network (engine/network); its address there
    network: { type: 'string' },
    ip: { type: 'string' },
  },
  required: ['id', 'name', 'image', 'created', 'bundle', 'rootfs', 'labels', 'timeline'],
} as const;

export type ContainerRecord = FromSchema<typeof containerRecordSchema>;
export type TimelineEntry = NonNullable<ContainerRecord['timeline']>[number];
export type TimelinePhase = (typeof timelinePhases)[number];

export function checkContainerRecord(x: unknown, file: string): ContainerRecord {
  // generated at build time once 'engine.container-record' is in lib/schema-registry.ts; compiled on first use until then
  const validate = schemaValidator('engine.container-record', containerRecordSchema);
  if (!validate(x)) {
    const e = validate.errors?.[0];
    throw dataLoss(`${file} is damaged: ${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`);
  }
  return x as ContainerRecord;
}

/** Times one start-up phase and appends it to the timeline (what `inspect` shows as where time went). */
export async function timed<T>(timeline: TimelineEntry[], phase: TimelinePhase, fn: () => Promise<T> | T): Promise<T> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    timeline.push({ phase, startedAt, ms: Math.round((performance.now() - t0) * 100) / 100 });
  }
}
