// JSON schemas for what registries and archives hand us, declared once: ajv validates, FromSchema types.
// Only fields berth relies on are constrained; unknown fields pass through (forward compatibility).
import type { FromSchema } from 'json-schema-to-ts';
import { schemaValidator } from '../lib/schema-validator.js';
import { invalidArgument } from '../lib/errors.js';

const digest = { type: 'string', pattern: '^sha256:[a-f0-9]{64}$' } as const;
const platform = {
  type: 'object',
  required: ['architecture', 'os'],
  properties: {
    architecture: { type: 'string' },
    os: { type: 'string' },
    variant: { type: 'string' },
    'os.version': { type: 'string' },
    'os.features': { type: 'array', items: { type: 'string' } },
  },
} as const;
const annotations = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const descriptorSchema = {
  type: 'object',
  required: ['mediaType', 'digest', 'size'],
  properties: {
    mediaType: { type: 'string' },
    digest,
    size: { type: 'integer', minimum: 0 },
    urls: { type: 'array', items: { type: 'string' } },
    annotations,
    platform,
  },
} as const;
export type Descriptor = FromSchema<typeof descriptorSchema>;
export type Platform = FromSchema<typeof platform>;

export const manifestSchema = {
  type: 'object',
  required: ['schemaVersion', 'config', 'layers'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { type: 'string' },
    config: descriptorSchema,
    layers: { type: 'array', items: descriptorSchema, maxItems: 1000 },
    annotations,
  },
} as const;
export type Manifest = FromSchema<typeof manifestSchema>;

export const indexSchema = {
  type: 'object',
  required: ['schemaVersion', 'manifests'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { type: 'string' },
    manifests: { type: 'array', items: descriptorSchema, maxItems: 10000 },
    annotations,
  },
} as const;
export type Index = FromSchema<typeof indexSchema>;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const emptySet = { type: 'object' } as const;
const strings = { type: 'array', items: { type: 'string' } } as const;

export const imageConfigSchema = {
  type: 'object',
  required: ['rootfs'],
  properties: {
    created: { type: 'string' },
    author: { type: 'string' },
    architecture: { type: 'string' },
    os: { type: 'string' },
    variant: { type: 'string' },
    config: {
      type: ['object', 'null'],
      properties: {
        User: { type: 'string' },
        ExposedPorts: emptySet,
        Env: { type: ['array', 'null'], items: { type: 'string' } },
        Entrypoint: { type: ['array', 'null'], items: { type: 'string' } },
        Cmd: { type: ['array', 'null'], items: { type: 'string' } },
        Volumes: emptySet,
        WorkingDir: { type: 'string' },
        Labels: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
        StopSignal: { type: 'string' },
        ArgsEscaped: { type: 'boolean' },
      },
    },
    rootfs: {
      type: 'object',
      required: ['type', 'diff_ids'],
      properties: { type: { const: 'layers' }, diff_ids: { type: 'array', items: digest } },
    },
    history: { type: 'array', items: { type: 'object' } },
  },
} as const;
export type ImageConfig = FromSchema<typeof imageConfigSchema>;
void stringMap; void strings;

// Validators come from lib/schema-validator (generated at build time, else compiled on first use):
// compiling at module load cost every CLI start ~80 ms.
function validator<T>(name: string, schema: object, what: string): (v: unknown) => T {
  return (v: unknown): T => {
    const check = schemaValidator(name, schema);
    if (!check(v)) {
      const e = check.errors?.[0];
      throw invalidArgument(`invalid ${what}: ${e?.instancePath || '/'} ${e?.message ?? 'does not match the schema'}`);
    }
    return v as T;
  };
}

export const validateDescriptor = validator<Descriptor>('image.descriptor', descriptorSchema, 'descriptor');
export const validateManifest = validator<Manifest>('image.manifest', manifestSchema, 'image manifest');
export const validateIndex = validator<Index>('image.index', indexSchema, 'image index');
export const validateImageConfig = validator<ImageConfig>('image.config', imageConfigSchema, 'image config');
