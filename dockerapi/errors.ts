// Docker's error shape: {"message": "..."} with the status code the docker CLI keys its behaviour on
// (404 makes `docker run` pull, 409 is a conflict, 400 a bad parameter).
import type http from 'node:http';
import { BerthError, type ErrorCode } from '../lib/errors.js';

const STATUS: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  INVALID_ARGUMENT: 400,
  PERMISSION_DENIED: 403,
  UNAVAILABLE: 503,
  RESOURCE_EXHAUSTED: 500,
  DEADLINE_EXCEEDED: 500,
  UNIMPLEMENTED: 501,
  CANCELLED: 500,
  DATA_LOSS: 500,
  INTERNAL: 500,
};

export function statusOf(e: unknown): number {
  return e instanceof BerthError ? STATUS[e.code] : 500;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function sendError(res: http.ServerResponse, e: unknown): void {
  if (res.headersSent) {
    // The stream is under way: the client can only see the connection end.
    res.destroy();
    return;
  }
  const body = JSON.stringify({ message: messageOf(e) });
  res.writeHead(statusOf(e), { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
