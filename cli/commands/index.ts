// The list of `berth` commands. Each module exports `register(program, globals)`.
import type { Command } from 'commander';
import type { GlobalOptions } from '../context.js';
// image commands (image/ service)
import { register as imagePull } from './image-pull.js';
import { register as images } from './images.js';
import { register as imageInspect } from './image-inspect.js';
import { register as tag } from './tag.js';
import { register as rmi } from './rmi.js';
import { register as push } from './push.js';
import { register as save } from './save.js';
import { register as load } from './load.js';
import { register as login } from './login.js';
import { register as imagePrune } from './image-prune.js';
import { register as imageMount } from './image-mount.js';

// container commands (engine/ container service)
import { register as run } from './run.js';
import { register as create } from './create.js';
import { register as start } from './start.js';
import { register as stop } from './stop.js';
import { register as rm } from './rm.js';
import { register as ps } from './ps.js';
import { register as logs } from './logs.js';
import { register as exec } from './exec.js';
import { register as inspect } from './inspect.js';
import { register as wait } from './wait.js';
import { register as containerCleanup } from './container-cleanup.js';
// servers: CRI + Docker Engine API sockets
import { register as serve } from './serve.js';

export type Register = (program: Command, globals: () => GlobalOptions) => void;

export const commands: Register[] = [
  run, create, start, stop, rm, ps, logs, exec, inspect, wait, containerCleanup, serve,
  imagePull, images, imageInspect, tag, rmi, push, save, load, login, imagePrune, imageMount,
];
