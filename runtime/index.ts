// berth's OCI runtime as a library (crun's model): every lifecycle operation is a typed function over a
// Runtime (state root + logging); `berth-runtime` (runtime/cli) is only their first client.
export { openRuntime, type Runtime, type RuntimeOptions } from './container/context.js';
export { createContainer as create, type CreateOptions } from './container/create.js';
export { startContainer as start } from './container/start.js';
export { containerState as state } from './container/state.js';
export { killContainer as kill } from './container/kill.js';
export { deleteContainer as delete, deleteContainer as remove } from './container/delete.js';
export { execInContainer as exec, buildExecProcess, type ExecOptions, type ExecHandle } from './container/exec.js';
export { containerPids as ps } from './container/ps.js';
export { listContainers as list, type ContainerSummary } from './container/list.js';
export { pauseContainer as pause, resumeContainer as resume } from './container/pause.js';
export { updateContainer as update, mergeResources } from './container/update.js';
export { containerStats as stats, containerEvents as events, type ContainerEvent } from './container/events.js';
export { runtimeFeatures as features, type Features } from './container/features.js';
export { defaultSpec as generateSpec } from './container/spec.js';
export { runContainer as run, type RunOptions } from './container/run.js';
export { parseSignal } from './container/signal.js';
export { runHooks, runHook, type HookKind } from './hooks.js';
export { DEFAULT_ROOT, StateStore, type ContainerRecord, type OciState, type Status } from './state.js';
