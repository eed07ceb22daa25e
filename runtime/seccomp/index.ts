export { compileSeccomp, type CompiledSeccomp } from './compile.js';
export { seccompFeatures, type SeccompFeatures } from './features.js';
export { defaultSeccompProfile, type DefaultProfileOptions } from './default-profile.js';
export { compileSeccompCached } from './cache.js';
