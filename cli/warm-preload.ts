// What a warm process does before it waits for its call (cli/warm-serve.ts): the first-use work of a call
// that has no effect outside this process, so no call pays it. Loading every command's module is the
// largest part; then the generated schema validators (dist/validators.cjs and each schema's hash), and
// the native libraries behind native/ffi.ts (libc, libseccomp).
import { commandsFor } from './commands/index.js';
import { registeredSchemas } from '../lib/schema-registry.js';
import { schemaValidator } from '../lib/schema-validator.js';
import { loadBinding, seccompVersion } from '../native/ffi.js';

export async function preload(): Promise<void> {
  await Promise.all([commandsFor(undefined), import('../runtime/planner/embedded.js')]);
  for (const [name, schema] of Object.entries(registeredSchemas)) schemaValidator(name, schema);
  loadBinding();
  try { seccompVersion(); } catch { /* no libseccomp: the calls that need it report it themselves */ }
}
