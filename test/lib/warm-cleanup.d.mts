/** See warm-cleanup.mjs. */
export function privateWarmDir(): () => void;
