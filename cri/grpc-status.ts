// The one place BerthError codes become gRPC status codes, and every handler's error path.
import * as grpc from '@grpc/grpc-js';
import { BerthError, type ErrorCode } from '../lib/errors.js';

const CODES: Record<ErrorCode, grpc.status> = {
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
  CANCELLED: grpc.status.CANCELLED,
  DATA_LOSS: grpc.status.DATA_LOSS,
  INTERNAL: grpc.status.INTERNAL,
};

export function grpcCode(e: unknown): grpc.status {
  return e instanceof BerthError ? CODES[e.code] : grpc.status.INTERNAL;
}

export function toServiceError(e: unknown): Partial<grpc.ServiceError> {
  const message = e instanceof Error ? e.message : String(e);
  return { code: grpcCode(e), details: message, message };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = any;
export type UnaryHandler = (req: Msg) => Promise<Msg> | Msg;

/** A unary handler: the adapter returns the response or throws; the status mapping happens here. */
export function unary(fn: UnaryHandler, onError?: (method: string, e: unknown) => void, method = ''): grpc.handleUnaryCall<Msg, Msg> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then((res) => callback(null, res ?? {}))
      .catch((e: unknown) => {
        onError?.(method, e);
        callback(toServiceError(e) as grpc.ServiceError);
      });
  };
}
