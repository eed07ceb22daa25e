// The daemon's event stream (/events) and the in-process signal the wait and attach endpoints use
// to learn that a container started, died or was removed.
import { EventEmitter } from 'node:events';

export interface DockerEvent {
  Type: 'container' | 'image' | 'volume';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  // the pre-1.22 fields the docker CLI still prints
  status?: string;
  id?: string;
  from?: string;
}

export class EventBus {
  private readonly em = new EventEmitter();
  constructor() { this.em.setMaxListeners(0); }

  publish(type: DockerEvent['Type'], action: string, id: string, attrs: Record<string, string> = {}): DockerEvent {
    const now = Date.now();
    const ev: DockerEvent = {
      Type: type, Action: action, Actor: { ID: id, Attributes: attrs }, scope: 'local',
      time: Math.floor(now / 1000), timeNano: now * 1e6,
      status: action, id, ...(attrs.image ? { from: attrs.image } : {}),
    };
    this.em.emit('event', ev);
    return ev;
  }

  subscribe(fn: (e: DockerEvent) => void): () => void {
    this.em.on('event', fn);
    return () => this.em.off('event', fn);
  }

  /** The next event matching `pred` (cancelled by `signal`). */
  next(pred: (e: DockerEvent) => boolean, signal?: AbortSignal): Promise<DockerEvent> {
    return new Promise((resolve, reject) => {
      const off = this.subscribe((e) => { if (pred(e)) { off(); signal?.removeEventListener('abort', onAbort); resolve(e); } });
      const onAbort = () => { off(); reject(new Error('cancelled')); };
      signal?.addEventListener('abort', onAbort);
    });
  }
}
