// The schemas whose validators scripts/build.mjs generates ahead of time (hot paths of the CLIs).
// A schema missing here still validates; it is just compiled on first use.
import { specSchema, processSchema } from '../runtime/spec/config-schema.js';

export const registeredSchemas: Record<string, object> = {
  'runtime.config': specSchema,
  'runtime.process': processSchema,
};
