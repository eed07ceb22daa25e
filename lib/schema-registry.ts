// The schemas whose validators scripts/build.mjs generates ahead of time (what CLI calls validate).
// A schema missing here still validates; it is just compiled on first use.
import { specSchema, processSchema } from '../runtime/spec/config-schema.js';
import { descriptorSchema, manifestSchema, indexSchema, imageConfigSchema } from '../image/schemas.js';
import { metaSchema } from '../snapshotter/metadata.js';
import { sessionSchema, exitStatusSchema } from '../shim/session.js';
import { containerRecordSchema } from '../engine/container-record.js';
import { restartStateSchema } from '../engine/restart-state.js';

export const registeredSchemas: Record<string, object> = {
  'runtime.config': specSchema,
  'runtime.process': processSchema,
  'image.descriptor': descriptorSchema,
  'image.manifest': manifestSchema,
  'image.index': indexSchema,
  'image.config': imageConfigSchema,
  'snapshotter.meta': metaSchema,
  'shim.session': sessionSchema,
  'shim.exit-status': exitStatusSchema,
  'engine.container-record': containerRecordSchema,
  'engine.restart-state': restartStateSchema,
};
