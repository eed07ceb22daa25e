// What every RPC adapter shares: the container service, CRI's records, the sandboxes, the network,
// and the container event feed GetContainerEvents streams.
import { EventEmitter } from 'node:events';
import type { ContainerService } from '../engine/service.js';
import type { NetworkManager } from '../engine/network/index.js';
import { CriRecords } from './records.js';
import { Sandboxes } from './sandboxes.js';
import { ExitWatcher } from './exit-watcher.js';
import type { StreamingServer } from './streaming.js';

export interface CriOptions {
  /** registry host -> mirror host[:port] (critest's images resolve to a local registry this way) */
  mirrors?: Record<string, string>;
  /** registries spoken to over plain HTTP */
  insecureRegistries?: string[];
  log?: (msg: string) => void;
}

export type ContainerEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

export interface ContainerEvent { containerId: string; type: ContainerEventType; sandboxId: string }

export class CriContext {
  readonly records: CriRecords;
  readonly sandboxes: Sandboxes;
  readonly events = new EventEmitter();
  readonly exits: ExitWatcher;
  podCidr = '';
  streaming?: StreamingServer;

  constructor(readonly svc: ContainerService, readonly net: NetworkManager, readonly opts: CriOptions = {}) {
    this.records = new CriRecords(svc.cfg.root);
    this.sandboxes = new Sandboxes(svc, this.records, net);
    this.events.setMaxListeners(0);
    this.exits = new ExitWatcher(this);
  }

  log(msg: string): void { this.opts.log?.(msg); }

  /** The sandbox goes with the event: a deleted container's record is gone when it is sent. */
  emit(containerId: string, type: ContainerEventType, sandboxId: string): void {
    this.events.emit('container', { containerId, type, sandboxId } satisfies ContainerEvent);
  }
}
