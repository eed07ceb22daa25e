// Generates dist/validators.cjs: standalone ajv code for every schema in lib/schema-registry.ts,
// each with the hash of the schema it was made from (lib/schema-validator.ts checks it).
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createRequire } from 'node:module';

export async function buildValidators(root) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-validators-'));
  try {
    // The registry is TypeScript: bundle it to a loadable module first.
    await build({ absWorkingDir: root, entryPoints: ['lib/schema-registry.ts'], outfile: path.join(tmp, 'registry.cjs'), bundle: true, platform: 'node', format: 'cjs', packages: 'external', logLevel: 'error', define: { 'import.meta.url': '"file:///"' } });
    const require = createRequire(path.join(root, 'package.json'));
    const { registeredSchemas } = require(path.join(tmp, 'registry.cjs'));
    const { Ajv } = require('ajv');
    const standaloneCode = require('ajv/dist/standalone').default;
    const { schemaHash, AJV_OPTIONS } = await loadHelpers(root, tmp);
    const parts = [];
    for (const [name, schema] of Object.entries(registeredSchemas)) {
      const ajv = new Ajv(AJV_OPTIONS);
      const code = standaloneCode(ajv, ajv.compile(schema));
      parts.push(`exports[${JSON.stringify(name)}] = { hash: ${JSON.stringify(schemaHash(schema))}, validate: (function () { const module = { exports: {} }; const exports = module.exports;\n${code}\nreturn module.exports; })() };`);
    }
    // the generated code requires ajv's small runtime helpers: bundle them in
    fs.writeFileSync(path.join(tmp, 'validators.js'), `'use strict';\n${parts.join('\n')}\n`);
    await build({ absWorkingDir: root, entryPoints: [path.join(tmp, 'validators.js')], outfile: path.join(root, 'dist', 'validators.cjs'), bundle: true, minify: true, platform: 'node', format: 'cjs', logLevel: 'error', nodePaths: [path.join(root, 'node_modules')] });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function loadHelpers(root, tmp) {
  await build({ absWorkingDir: root, entryPoints: ['lib/schema-validator.ts'], outfile: path.join(tmp, 'sv.cjs'), bundle: true, platform: 'node', format: 'cjs', packages: 'external', logLevel: 'error', define: { 'import.meta.url': '"file:///"' } });
  return createRequire(path.join(root, 'package.json'))(path.join(tmp, 'sv.cjs'));
}
