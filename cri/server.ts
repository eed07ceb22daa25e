// The CRI v1 gRPC server on a unix socket: RuntimeService and ImageService, one adapter file per
// RPC group (rpc-*.ts). Methods of the proto without a handler answer UNIMPLEMENTED.
import fs from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { fromErrno } from '../lib/errors.js';
import { ContainerService } from '../engine/service.js';
import type { EngineConfig } from '../engine/layout.js';
import { NetworkManager, type NetworkOptions } from '../engine/network/index.js';
import { loadCri } from './proto.js';
import { unary, type Msg, type UnaryHandler } from './grpc-status.js';
import { CriContext, type ContainerEvent, type CriOptions } from './context.js';
import { runtimeHandlers } from './rpc-runtime.js';
import { sandboxHandlers, sandboxStatus } from './rpc-sandbox.js';
import { containerHandlers, containerStatus, containerView, containersOfSandbox } from './rpc-container.js';
import { execHandlers } from './rpc-exec.js';
import { statsHandlers } from './rpc-stats.js';
import { imageHandlers } from './rpc-image.js';
import { StreamingServer } from './streaming.js';
import { acceptGrpcConnection } from './authority-fix.js';

export { DEFAULT_CRI_SOCKET } from './defaults.js';
import { DEFAULT_CRI_SOCKET } from './defaults.js';

export interface CriServerOptions extends CriOptions {
  engine: EngineConfig;
  socket?: string;
  network?: NetworkOptions;
}

export interface CriServer {
  socket: string;
  ctx: CriContext;
  close(): Promise<void>;
}

function bindHandlers(def: grpc.ServiceDefinition, handlers: Record<string, UnaryHandler>, ctx: CriContext): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(handlers)) {
    if (!(name in def)) throw new Error(`handler ${name} has no method in cri/api.proto`);
    impl[name] = unary(fn, (m, e) => ctx.log(`${m}: ${(e as Error)?.message ?? e}`), name);
  }
  return impl;
}

// As containerd: each event carries the pod's status and the statuses of all its containers, which
// is what the kubelet's evented PLEG reads instead of relisting.
function containerEvents(ctx: CriContext): grpc.handleServerStreamingCall<Msg, Msg> {
  return (call) => {
    const onEvent = (ev: ContainerEvent) => {
      let pod: Msg | null = null;
      try { pod = sandboxStatus(ctx.sandboxes.get(ev.sandboxId)); } catch { /* removed */ }
      const statuses: Msg[] = [];
      for (const id of containersOfSandbox(ctx, ev.sandboxId)) {
        try { statuses.push(containerStatus(ctx, containerView(ctx, id))); } catch { /* removed meanwhile */ }
      }
      call.write({ container_id: ev.containerId, container_event_type: ev.type, created_at: String(BigInt(Date.now()) * 1_000_000n), pod_sandbox_status: pod, containers_statuses: statuses });
    };
    ctx.events.on('container', onEvent);
    const done = () => ctx.events.off('container', onEvent);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
  };
}

export async function startCriServer(o: CriServerOptions): Promise<CriServer> {
  const socket = path.resolve(o.socket ?? DEFAULT_CRI_SOCKET);
  const svc = new ContainerService(o.engine);
  const net = new NetworkManager({ dataDir: path.join(o.engine.root, 'network'), netnsDir: path.join(o.engine.state, 'netns'), spareNetns: process.env.BERTH_NETNS_SPARE !== 'off', ...(o.network ?? {}) });
  const ctx = new CriContext(svc, net, o);
  const streaming = new StreamingServer(ctx);
  await streaming.start();
  ctx.streaming = streaming;
  const { RuntimeService, ImageService } = loadCri();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 });
  server.addService(RuntimeService.service, {
    ...bindHandlers(RuntimeService.service, {
      ...runtimeHandlers(ctx), ...sandboxHandlers(ctx), ...containerHandlers(ctx), ...execHandlers(ctx), ...statsHandlers(ctx),
    }, ctx),
    GetContainerEvents: containerEvents(ctx),
  });
  server.addService(ImageService.service, bindHandlers(ImageService.service, imageHandlers(ctx), ctx));
  ctx.exits.watchRunning();

  fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o711 });
  // A socket left by a crashed server would make bind fail; anything else at that path is not ours.
  const st = fs.lstatSync(socket, { throwIfNoEntry: false });
  if (st) {
    if (!st.isSocket()) throw fromErrno(Object.assign(new Error('exists and is not a socket'), { code: 'EEXIST' }), socket);
    fs.unlinkSync(socket);
  }
  // berth listens itself and hands each connection to grpc-js, through the authority filter where needed.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = createNetServer((sock) => acceptGrpcConnection(sock, (conn) => injector.injectConnection(conn)));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', (err) => reject(fromErrno(err, `cannot listen on ${socket}`)));
    listener.listen(socket, () => resolve());
  });
  fs.chmodSync(socket, 0o660);
  fs.chownSync(socket, 0, 0);
  return {
    socket,
    ctx,
    close: () => new Promise<void>((resolve) => {
      listener.close();
      ctx.exits.close();
      try { fs.unlinkSync(socket); } catch { /* gone */ }
      server.tryShutdown(() => {
        injector.destroy();
        void Promise.all([streaming.close(), net.close().catch(() => undefined)]).then(() => resolve());
      });
      // streams (GetContainerEvents) never end by themselves
      setTimeout(() => server.forceShutdown(), 2000).unref();
    }),
  };
}
