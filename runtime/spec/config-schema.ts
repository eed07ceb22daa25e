// config.json of the OCI runtime-spec 1.2 (config.md, config-linux.md), as one `as const` JSON Schema:
// ajv validates with it and json-schema-to-ts derives the TypeScript types from the same text.
// Unknown properties are tolerated everywhere (the spec allows extensions), so no additionalProperties.
import type { FromSchema } from 'json-schema-to-ts';
import { schemaValidator, type ValidationError as ErrorObject } from '../../lib/schema-validator.js';
import { invalidArgument } from '../../lib/errors.js';
import { linuxResourcesSchema } from './resources-schema.js';
import { linuxSeccompSchema } from './seccomp-schema.js';

const uint32 = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
const int32 = { type: 'integer', minimum: -2147483648, maximum: 2147483647 } as const;
// Above 2^53 JSON numbers lose precision in JS; rlimits use -1/"unlimited" semantics through 2^64-1,
// which JS cannot represent exactly either, so the plan clamps anything >= 2^63 to RLIM_INFINITY.
const uint64 = { type: 'integer', minimum: 0 } as const;
const int64 = { type: 'integer' } as const;
const stringArray = { type: 'array', items: { type: 'string' } } as const;
const env = { type: 'array', items: { type: 'string' } } as const;
const absPath = { type: 'string', minLength: 1 } as const;

export const idMappingSchema = {
  type: 'object',
  properties: { containerID: uint32, hostID: uint32, size: uint32 },
  required: ['containerID', 'hostID', 'size'],
} as const;

export const hookSchema = {
  type: 'object',
  properties: {
    path: absPath,
    args: stringArray,
    env,
    timeout: { type: 'integer', minimum: 1 },
  },
  required: ['path'],
} as const;
const hookList = { type: 'array', items: hookSchema } as const;

export const hooksSchema = {
  type: 'object',
  properties: {
    prestart: hookList,
    createRuntime: hookList,
    createContainer: hookList,
    startContainer: hookList,
    poststart: hookList,
    poststop: hookList,
  },
} as const;

export const capabilitiesSchema = {
  type: 'object',
  properties: {
    bounding: stringArray,
    effective: stringArray,
    inheritable: stringArray,
    permitted: stringArray,
    ambient: stringArray,
  },
} as const;

export const rlimitSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', pattern: '^RLIMIT_[A-Z]+$' },
    hard: uint64,
    soft: uint64,
  },
  required: ['type', 'soft', 'hard'],
} as const;

export const userSchema = {
  type: 'object',
  properties: {
    uid: uint32,
    gid: uint32,
    umask: uint32,
    additionalGids: { type: 'array', items: uint32 },
    username: { type: 'string' },
  },
  required: ['uid', 'gid'],
} as const;

export const schedulerPolicies = [
  'SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE',
] as const;
export const schedulerFlags = [
  'SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_RECLAIM', 'SCHED_FLAG_DL_OVERRUN', 'SCHED_FLAG_KEEP_POLICY',
  'SCHED_FLAG_KEEP_PARAMS', 'SCHED_FLAG_UTIL_CLAMP_MIN', 'SCHED_FLAG_UTIL_CLAMP_MAX',
] as const;

export const processSchema = {
  type: 'object',
  properties: {
    terminal: { type: 'boolean' },
    consoleSize: {
      type: 'object',
      properties: { height: uint32, width: uint32 },
      required: ['height', 'width'],
    },
    user: userSchema,
    args: { type: 'array', items: { type: 'string' }, minItems: 1 },
    commandLine: { type: 'string' },
    env,
    cwd: { type: 'string', minLength: 1 },
    capabilities: capabilitiesSchema,
    rlimits: { type: 'array', items: rlimitSchema },
    noNewPrivileges: { type: 'boolean' },
    apparmorProfile: { type: 'string' },
    oomScoreAdj: { type: 'integer', minimum: -1000, maximum: 1000 },
    selinuxLabel: { type: 'string' },
    ioPriority: {
      type: 'object',
      properties: {
        class: { type: 'string', enum: ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'] },
        priority: { type: 'integer', minimum: 0, maximum: 7 },
      },
      required: ['class'],
    },
    scheduler: {
      type: 'object',
      properties: {
        policy: { type: 'string', enum: schedulerPolicies },
        nice: int32,
        priority: int32,
        flags: { type: 'array', items: { type: 'string', enum: schedulerFlags } },
        runtime: uint64,
        deadline: uint64,
        period: uint64,
      },
      required: ['policy'],
    },
    execCPUAffinity: {
      type: 'object',
      properties: {
        initial: { type: 'string', pattern: '^[0-9, -]*$' },
        final: { type: 'string', pattern: '^[0-9, -]*$' },
      },
    },
  },
  required: ['cwd', 'user'],
} as const;

export const mountSchema = {
  type: 'object',
  properties: {
    destination: absPath,
    source: { type: 'string' },
    type: { type: 'string' },
    options: stringArray,
    uidMappings: { type: 'array', items: idMappingSchema },
    gidMappings: { type: 'array', items: idMappingSchema },
  },
  required: ['destination'],
} as const;

export const namespaceTypes = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;

export const namespaceSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: namespaceTypes },
    path: { type: 'string' },
  },
  required: ['type'],
} as const;

export const deviceSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['c', 'b', 'u', 'p'] },
    path: absPath,
    major: int64,
    minor: int64,
    fileMode: uint32,
    uid: uint32,
    gid: uint32,
  },
  required: ['type', 'path'],
} as const;

export const timeOffsetSchema = {
  type: 'object',
  properties: { secs: int64, nanosecs: uint32 },
} as const;

export const linuxSchema = {
  type: 'object',
  properties: {
    namespaces: { type: 'array', items: namespaceSchema },
    uidMappings: { type: 'array', items: idMappingSchema },
    gidMappings: { type: 'array', items: idMappingSchema },
    timeOffsets: {
      type: 'object',
      properties: { monotonic: timeOffsetSchema, boottime: timeOffsetSchema },
      additionalProperties: timeOffsetSchema,
    },
    devices: { type: 'array', items: deviceSchema },
    cgroupsPath: { type: 'string' },
    resources: linuxResourcesSchema,
    rootfsPropagation: { type: 'string', enum: ['private', 'shared', 'slave', 'unbindable', 'rprivate', 'rshared', 'rslave', 'runbindable'] },
    seccomp: linuxSeccompSchema,
    sysctl: { type: 'object', additionalProperties: { type: 'string' } },
    maskedPaths: stringArray,
    readonlyPaths: stringArray,
    mountLabel: { type: 'string' },
    intelRdt: {
      type: 'object',
      properties: {
        closID: { type: 'string' },
        l3CacheSchema: { type: 'string' },
        memBwSchema: { type: 'string' },
        schemata: stringArray,
        enableMonitoring: { type: 'boolean' },
        enableCMT: { type: 'boolean' },
        enableMBM: { type: 'boolean' },
      },
    },
    personality: {
      type: 'object',
      properties: {
        domain: { type: 'string', enum: ['LINUX', 'LINUX32'] },
        flags: stringArray,
      },
      required: ['domain'],
    },
  },
} as const;

export const specSchema = {
  type: 'object',
  properties: {
    ociVersion: { type: 'string', minLength: 1 },
    process: processSchema,
    root: {
      type: 'object',
      properties: { path: absPath, readonly: { type: 'boolean' } },
      required: ['path'],
    },
    hostname: { type: 'string' },
    domainname: { type: 'string' },
    mounts: { type: 'array', items: mountSchema },
    hooks: hooksSchema,
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    linux: linuxSchema,
  },
  required: ['ociVersion'],
} as const;

// The schemas tolerate unknown properties, so FromSchema adds `[x: string]: unknown` to every object;
// Strict drops exactly those catch-alls (keeping real maps such as annotations), so `keyof Hooks` is
// the hook kinds and typos in field names stay compile errors.
type Strict<T> = T extends readonly (infer U)[]
  ? Strict<U>[]
  : T extends object
    ? { [K in keyof T as string extends K ? (unknown extends T[K] ? never : K) : K]: Strict<T[K]> }
    : T;

export type Spec = Strict<FromSchema<typeof specSchema>>;
export type Process = Strict<FromSchema<typeof processSchema>>;
export type User = Strict<FromSchema<typeof userSchema>>;
export type Mount = Strict<FromSchema<typeof mountSchema>>;
export type Hook = Strict<FromSchema<typeof hookSchema>>;
export type Hooks = Strict<FromSchema<typeof hooksSchema>>;
export type Capabilities = Strict<FromSchema<typeof capabilitiesSchema>>;
export type Rlimit = Strict<FromSchema<typeof rlimitSchema>>;
export type Linux = Strict<FromSchema<typeof linuxSchema>>;
export type Namespace = Strict<FromSchema<typeof namespaceSchema>>;
export type NamespaceType = (typeof namespaceTypes)[number];
export type IdMapping = Strict<FromSchema<typeof idMappingSchema>>;
export type Device = Strict<FromSchema<typeof deviceSchema>>;

function describe(e: ErrorObject): string {
  const at = e.instancePath || '/';
  switch (e.keyword) {
    case 'required': return `${at === '/' ? '' : at}/${(e.params as { missingProperty: string }).missingProperty} is required`;
    case 'enum': return `${at} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type': return `${at} must be ${(e.params as { type: string }).type}`;
    default: return `${at} ${e.message ?? 'is invalid'}`;
  }
}

// Validators come precompiled from the build (lib/schema-validator.ts): compiling this schema at
// every CLI start would cost more than the rest of a `create`.
function check<T>(name: string, schema: object, json: unknown, what: string): T {
  const v = schemaValidator(name, schema);
  if (!v(json)) {
    const e = v.errors?.[0];
    throw invalidArgument(`${what}: ${e ? describe(e) : 'invalid'}`);
  }
  return json as T;
}

/** Validate a parsed config.json; throws INVALID_ARGUMENT naming the JSON path, e.g. `/process/user/uid must be integer`. */
export function validateSpec(json: unknown, what = 'config.json'): Spec {
  return check<Spec>('runtime.config', specSchema, json, what);
}

/** Validate the process.json given to `exec --process`. */
export function validateProcess(json: unknown, what = 'process.json'): Process {
  return check<Process>('runtime.process', processSchema, json, what);
}
