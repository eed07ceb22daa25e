// One way to get a JSON Schema validator everywhere: ajv code generated at build time
// (scripts/build.mjs -> dist/validators.cjs) when it matches the schema, else compiled on first use.
// Compiling the runtime-spec schema costs ~130 ms, most of a CLI call's budget: the generated code
// takes it off every cold start. A hash of the schema guards against a stale build.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { REPO_ROOT } from './paths.js';

export interface ValidationError { instancePath: string; keyword: string; message?: string; params: Record<string, unknown> }
export type Validate = ((data: unknown) => boolean) & { errors?: ValidationError[] | null };

/** The ajv options every validator is built with, at build time and at run time alike. */
export const AJV_OPTIONS = { allErrors: false, strict: false, code: { source: true } } as const;

const require = createRequire(import.meta.url);
const cache = new Map<object, Validate>();
let generated: Record<string, { hash: string; validate: Validate }> | null | undefined;

export function schemaHash(schema: object): string {
  return crypto.createHash('sha256').update(JSON.stringify(schema)).digest('hex').slice(0, 16);
}

function precompiled(): Record<string, { hash: string; validate: Validate }> | null {
  if (generated !== undefined) return generated;
  const file = path.join(REPO_ROOT, 'dist', 'validators.cjs');
  if (!fs.existsSync(file)) return (generated = null);
  // Through the code cache: compiling this generated file is most of validation's cost.
  const loader = path.join(REPO_ROOT, 'bin', 'load-cached.cjs');
  generated = (fs.existsSync(loader) ? require(loader).loadCached(file, 'validators') : require(file)) as Record<string, { hash: string; validate: Validate }>;
  return generated;
}

let ajv: { compile(s: object): Validate } | undefined;

/** A validator for `schema`, registered under `name` in lib/schema-registry.ts for build-time generation. */
export function schemaValidator(name: string, schema: object): Validate {
  let v = cache.get(schema);
  if (v) return v;
  const pre = precompiled()?.[name];
  if (pre && pre.hash === schemaHash(schema)) v = pre.validate;
  else {
    if (!ajv) {
      const { Ajv } = require('ajv') as typeof import('ajv');
      ajv = new Ajv(AJV_OPTIONS) as unknown as { compile(s: object): Validate };
    }
    v = ajv.compile(schema);
  }
  cache.set(schema, v);
  return v;
}
