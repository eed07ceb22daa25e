// Loads cri/api.proto (CRI v1, package runtime.v1) once for the server and for test clients.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { REPO_ROOT } from '../lib/paths.js';

// REPO_ROOT is right from the sources and from the esbuild bundle in dist/ alike.
export const PROTO_FILE = process.env.BERTH_CRI_PROTO ?? path.join(REPO_ROOT, 'cri', 'api.proto');

// keepCase: field names stay as in the proto (pod_sandbox_id), as CRI documents them.
// int64 as strings: nanosecond timestamps do not fit a JS number exactly.
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export interface CriServices {
  RuntimeService: grpc.ServiceClientConstructor;
  ImageService: grpc.ServiceClientConstructor;
}

let cached: CriServices | undefined;

export function loadCri(): CriServices {
  if (cached) return cached;
  const def = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: CriServices } };
  cached = pkg.runtime.v1;
  return cached;
}
