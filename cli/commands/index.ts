// The list of `berth` commands. Each module exports `register(program, globals)`.
import type { Command } from 'commander';
import type { GlobalOptions } from '../context.js';
export type Register = (program: Command, globals: () => GlobalOptions) => void;
type Loader = () => Promise<{ register: Register }>;

// Each command's module is loaded only when asked for: a `berth run` then initialises the engine
// and not the registry, archive and server code of the other commands (part of every CLI start).
// image commands (image/ service)
const imagePull: Loader = () => import('./image-pull.js');
const images: Loader = () => import('./images.js');
const imageInspect: Loader = () => import('./image-inspect.js');
const tag: Loader = () => import('./tag.js');
const rmi: Loader = () => import('./rmi.js');
const push: Loader = () => import('./push.js');
const save: Loader = () => import('./save.js');
const load: Loader = () => import('./load.js');
const login: Loader = () => import('./login.js');
const imagePrune: Loader = () => import('./image-prune.js');
const imageMount: Loader = () => import('./image-mount.js');

// container commands (engine/ container service)
const run: Loader = () => import('./run.js');
const create: Loader = () => import('./create.js');
const start: Loader = () => import('./start.js');
const stop: Loader = () => import('./stop.js');
const rm: Loader = () => import('./rm.js');
const ps: Loader = () => import('./ps.js');
const logs: Loader = () => import('./logs.js');
const exec: Loader = () => import('./exec.js');
const inspect: Loader = () => import('./inspect.js');
const wait: Loader = () => import('./wait.js');
const containerCleanup: Loader = () => import('./container-cleanup.js');
// servers: CRI + Docker Engine API sockets
const serve: Loader = () => import('./serve.js');

const all: Loader[] = [
  run, create, start, stop, rm, ps, logs, exec, inspect, wait, containerCleanup, serve,
  imagePull, images, imageInspect, tag, rmi, push, save, load, login, imagePrune, imageMount,
];

/** Top-level commands that one module registers alone (others, e.g. inspect and image, span several). */
const alone: Record<string, Loader> = {
  run, create, start, stop, kill: stop, restart: stop, pause: stop, unpause: stop, rm, ps, logs, exec,
  wait, top: wait, container: containerCleanup, serve,
};

/** The registrations for a command line naming `command`: its own module, or all of them (help, unknown). */
export async function commandsFor(command: string | undefined): Promise<Register[]> {
  const one = command !== undefined && Object.hasOwn(alone, command) ? alone[command] : undefined;
  return (await Promise.all((one ? [one] : all).map((l) => l()))).map((m) => m.register);
}
