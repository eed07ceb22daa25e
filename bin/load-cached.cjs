'use strict';
// Loads a CommonJS bundle with a V8 code cache kept beside it (<file>.<tag>.cache), so later starts
// skip parsing and compiling what the earlier run compiled (~5-10 ms a start). The cache is made at
// exit of the first run with a given tag (a CLI uses its command name, so each command's own code
// is in its cache); V8 rejects a stale cache (other source, other Node), which is then replaced.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const { isAscii } = require('node:buffer');

function loadCached(file, tag, parent) {
  const cacheFile = `${file}.${String(tag || 'main').replace(/[^\w.-]/g, '_')}.cache`;
  // An ASCII bundle (esbuild escapes the rest) decodes as latin1 at memcpy speed; UTF-8 decoding of a
  // few MB costs several ms a start.
  const raw = fs.readFileSync(file);
  const src = raw.toString(isAscii(raw) ? 'latin1' : 'utf8');
  let cached;
  try { cached = fs.readFileSync(cacheFile); } catch { /* first run */ }
  const script = new vm.Script(Module.wrap(src), { filename: file, cachedData: cached });
  if (!cached || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch { /* a read-only install simply runs without a cache */ }
    });
  }
  const m = new Module(file, parent);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, path.dirname(file));
  m.loaded = true;
  return m.exports;
}

module.exports = { loadCached };
