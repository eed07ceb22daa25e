// linux.resources of OCI runtime-spec 1.2, declared once as an `as const` JSON Schema: ajv validates
// it and json-schema-to-ts derives the LinuxResources type from the same text.
// Unknown properties are allowed (the spec says readers MUST ignore them), so no additionalProperties:false.
import type { FromSchema } from 'json-schema-to-ts';

const int64 = { type: 'integer', minimum: -9223372036854775808, maximum: 9223372036854775807 } as const;
const uint64 = { type: 'integer', minimum: 0, maximum: 18446744073709551615 } as const;
const uint32 = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
const uint16 = { type: 'integer', minimum: 0, maximum: 65535 } as const;

export const deviceCgroupSchema = {
  type: 'object',
  properties: {
    allow: { type: 'boolean' },
    // 'a' = all, 'b' = block, 'c' = char; absent means all.
    type: { type: 'string', enum: ['a', 'b', 'c'] },
    // Absent (or -1 as some generators write) means any number.
    major: int64,
    minor: int64,
    access: { type: 'string', pattern: '^[rwm]{0,3}$' },
  },
  required: ['allow'],
} as const;

const blockIODeviceWeightSchema = {
  type: 'object',
  properties: {
    major: int64,
    minor: int64,
    weight: uint16,
    leafWeight: uint16,
  },
  required: ['major', 'minor'],
} as const;

const blockIODeviceThrottleSchema = {
  type: 'object',
  properties: {
    major: int64,
    minor: int64,
    rate: uint64,
  },
  required: ['major', 'minor'],
} as const;

export const linuxMemorySchema = {
  type: 'object',
  properties: {
    limit: int64,
    reservation: int64,
    // memory + swap together, as in cgroup v1 memory.memsw.limit_in_bytes; -1 = unlimited.
    swap: int64,
    kernel: int64,
    kernelTCP: int64,
    swappiness: uint64,
    disableOOMKiller: { type: 'boolean' },
    useHierarchy: { type: 'boolean' },
    checkBeforeUpdate: { type: 'boolean' },
  },
} as const;

export const linuxCpuSchema = {
  type: 'object',
  properties: {
    shares: uint64,
    quota: int64,
    burst: uint64,
    period: uint64,
    realtimeRuntime: int64,
    realtimePeriod: uint64,
    cpus: { type: 'string' },
    mems: { type: 'string' },
    idle: int64,
  },
} as const;

export const linuxBlockIOSchema = {
  type: 'object',
  properties: {
    weight: uint16,
    leafWeight: uint16,
    weightDevice: { type: 'array', items: blockIODeviceWeightSchema },
    throttleReadBpsDevice: { type: 'array', items: blockIODeviceThrottleSchema },
    throttleWriteBpsDevice: { type: 'array', items: blockIODeviceThrottleSchema },
    throttleReadIOPSDevice: { type: 'array', items: blockIODeviceThrottleSchema },
    throttleWriteIOPSDevice: { type: 'array', items: blockIODeviceThrottleSchema },
  },
} as const;

export const linuxResourcesSchema = {
  type: 'object',
  properties: {
    devices: { type: 'array', items: deviceCgroupSchema },
    memory: linuxMemorySchema,
    cpu: linuxCpuSchema,
    pids: {
      type: 'object',
      properties: { limit: int64 },
      required: ['limit'],
    },
    blockIO: linuxBlockIOSchema,
    hugepageLimits: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          pageSize: { type: 'string', pattern: '^[0-9]+[KMG]B$' },
          limit: uint64,
        },
        required: ['pageSize', 'limit'],
      },
    },
    network: {
      type: 'object',
      properties: {
        classID: uint32,
        priorities: {
          type: 'array',
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, priority: uint32 },
            required: ['name', 'priority'],
          },
        },
      },
    },
    rdma: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: { hcaHandles: uint32, hcaObjects: uint32 },
      },
    },
    // cgroup v2 file name -> value, written verbatim (names are checked by the v2 driver).
    unified: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

export type LinuxResources = FromSchema<typeof linuxResourcesSchema>;
export type LinuxDeviceCgroup = FromSchema<typeof deviceCgroupSchema>;
export type LinuxMemory = FromSchema<typeof linuxMemorySchema>;
export type LinuxCpu = FromSchema<typeof linuxCpuSchema>;
export type LinuxBlockIO = FromSchema<typeof linuxBlockIOSchema>;
