// CONTAINER_STOPPED_EVENT for every way a container ends: StopContainer, a forced RemoveContainer,
// and a process that exits by itself (or is OOM-killed), which no RPC sees. Each running CRI
// container has one waiter on its monitor's exit status file; whichever notices the exit first
// emits the event, once per run. A pod's pause container is watched the same way, its event
// carrying the sandbox id (as containerd reports a sandbox's end).
import { isBerthError } from '../lib/errors.js';
import type { CriContext } from './context.js';

const DEAD_MONITOR_POLL_MS = 2000;

export class ExitWatcher {
  private running = new Map<string, { sandboxId: string; eventId: string; ac: AbortController }>();

  constructor(private ctx: CriContext) {}

  /** Watch a started container until it exits; `eventId`: the id its event names. Watching it again is a no-op. */
  watch(containerId: string, sandboxId: string, eventId = containerId): void {
    if (this.running.has(containerId)) return;
    let monitor;
    try { monitor = this.ctx.svc.monitorOf(containerId); } catch (e) {
      if (isBerthError(e, 'NOT_FOUND') || isBerthError(e, 'FAILED_PRECONDITION')) return;
      throw e;
    }
    const ac = new AbortController();
    this.running.set(containerId, { sandboxId, eventId, ac });
    // An exit is seen at once (exit.json's rename wakes the waiter); the poll only catches a monitor that
    // died without writing one. Every running container of the node has a waiter: polled every 200 ms,
    // hundreds of them would keep the server's event loop busy reading /proc.
    monitor.waitExit({ signal: ac.signal, pollMs: DEAD_MONITOR_POLL_MS }).then(
      () => this.exited(containerId),
      (e) => { if (!ac.signal.aborted) this.ctx.log(`watching container ${containerId}: ${(e as Error).message}`); },
    );
  }

  /** The container has exited (seen by its waiter or by a caller that waited itself): emit once. */
  exited(containerId: string): void {
    const w = this.running.get(containerId);
    if (!w) return;
    this.running.delete(containerId);
    w.ac.abort();
    this.ctx.emit(w.eventId, 'CONTAINER_STOPPED_EVENT', w.sandboxId);
  }

  /** The server starts: watch the CRI containers and pods still running (they outlive a server restart). */
  watchRunning(): void {
    for (const sb of this.ctx.sandboxes.list()) if (sb.ready && sb.record.pauseId) this.watch(sb.record.pauseId, sb.record.id, sb.record.id);
    for (const r of this.ctx.records.containers.list()) {
      try {
        const v = this.ctx.svc.view(this.ctx.svc.resolve(r.id));
        if (v.status === 'running' || v.status === 'paused') this.watch(r.id, r.sandboxId);
      } catch { /* removed meanwhile */ }
    }
  }

  close(): void {
    for (const w of this.running.values()) w.ac.abort();
    this.running.clear();
  }
}
