// CNI 1.0 documents berth reads (network config lists, plugin results, plugin errors), declared once:
// ajv validates, FromSchema types. Only fields berth relies on are constrained; plugin-specific keys
// pass through untouched because the plugin, not berth, owns their meaning.
import type { FromSchema } from 'json-schema-to-ts';
import { schemaValidator } from '../../lib/schema-validator.js';
import { invalidArgument, BerthError } from '../../lib/errors.js';

// Plugin "type" names a binary in CNI_PATH: a bare file name, never a path.
const pluginType = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 255 } as const;

export const pluginConfSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    type: pluginType,
    capabilities: { type: 'object', additionalProperties: { type: 'boolean' } },
  },
} as const;
export type PluginConf = FromSchema<typeof pluginConfSchema> & Record<string, unknown>;

export const confListSchema = {
  type: 'object',
  required: ['cniVersion', 'name', 'plugins'],
  properties: {
    cniVersion: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$' },
    cniVersions: { type: 'array', items: { type: 'string' } },
    // The network name becomes a host-local directory name: keep it a plain file name.
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 128 },
    disableCheck: { type: 'boolean' },
    plugins: { type: 'array', minItems: 1, items: pluginConfSchema },
  },
} as const;
type ConfListDoc = FromSchema<typeof confListSchema>;
export interface ConfList {
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  plugins: PluginConf[];
  [key: string]: unknown;
}
// The hand-written interface must stay what the schema validates.
const _sameShape: (d: ConfListDoc) => ConfList = (d) => d;
void _sameShape;

export const resultSchema = {
  type: 'object',
  required: ['cniVersion'],
  properties: {
    cniVersion: { type: 'string' },
    interfaces: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, mac: { type: 'string' }, mtu: { type: 'integer' }, sandbox: { type: 'string' } },
      },
    },
    ips: {
      type: 'array',
      items: {
        type: 'object',
        required: ['address'],
        properties: { address: { type: 'string' }, gateway: { type: 'string' }, interface: { type: 'integer', minimum: 0 } },
      },
    },
    routes: {
      type: 'array',
      items: { type: 'object', required: ['dst'], properties: { dst: { type: 'string' }, gw: { type: 'string' } } },
    },
    dns: {
      type: 'object',
      properties: {
        nameservers: { type: 'array', items: { type: 'string' } },
        domain: { type: 'string' },
        search: { type: 'array', items: { type: 'string' } },
        options: { type: 'array', items: { type: 'string' } },
      },
    },
  },
} as const;
export type CniResult = FromSchema<typeof resultSchema>;

export const errorSchema = {
  type: 'object',
  required: ['code', 'msg'],
  properties: { cniVersion: { type: 'string' }, code: { type: 'integer' }, msg: { type: 'string' }, details: { type: 'string' } },
} as const;
export type CniErrorDoc = FromSchema<typeof errorSchema>;

function describe(errors: { instancePath: string; message?: string }[] | null | undefined): string {
  const e = errors?.[0];
  return e ? `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}` : 'is invalid';
}

/** A config list from a file or the caller, validated; `where` names it in the error. */
export function parseConfList(value: unknown, where: string): ConfList {
  const v = schemaValidator('cni.conflist', confListSchema);
  if (!v(value)) throw invalidArgument(`CNI network config ${where}: ${describe(v.errors)}`);
  return value as ConfList;
}

/** A plugin's stdout on success. A plugin that prints garbage is a broken plugin: INTERNAL. */
export function parseResult(value: unknown, plugin: string): CniResult {
  const v = schemaValidator('cni.result', resultSchema);
  if (!v(value)) throw new BerthError('INTERNAL', `CNI plugin ${plugin} returned a malformed result: ${describe(v.errors)}`);
  return value as CniResult;
}

export function isErrorDoc(value: unknown): value is CniErrorDoc {
  return schemaValidator('cni.error', errorSchema)(value);
}
