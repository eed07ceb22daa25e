// One error type for all of berth. The code is what the front ends translate:
// CRI maps it to a gRPC status, the Engine API to an HTTP status, the CLI to an exit code.
export const ErrorCodes = [
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'UNAVAILABLE',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'DEADLINE_EXCEEDED',
  'UNIMPLEMENTED',
  'CANCELLED',
  'DATA_LOSS',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

export class BerthError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BerthError';
    this.code = code;
  }
}

export const notFound = (msg: string, cause?: unknown) => new BerthError('NOT_FOUND', msg, { cause });
export const alreadyExists = (msg: string, cause?: unknown) => new BerthError('ALREADY_EXISTS', msg, { cause });
export const invalidArgument = (msg: string, cause?: unknown) => new BerthError('INVALID_ARGUMENT', msg, { cause });
export const failedPrecondition = (msg: string, cause?: unknown) => new BerthError('FAILED_PRECONDITION', msg, { cause });
export const unavailable = (msg: string, cause?: unknown) => new BerthError('UNAVAILABLE', msg, { cause });
export const permissionDenied = (msg: string, cause?: unknown) => new BerthError('PERMISSION_DENIED', msg, { cause });
export const internal = (msg: string, cause?: unknown) => new BerthError('INTERNAL', msg, { cause });
export const dataLoss = (msg: string, cause?: unknown) => new BerthError('DATA_LOSS', msg, { cause });
export const unimplemented = (msg: string, cause?: unknown) => new BerthError('UNIMPLEMENTED', msg, { cause });

export function isBerthError(e: unknown, code?: ErrorCode): e is BerthError {
  return e instanceof BerthError && (code === undefined || e.code === code);
}

// Node's own errors (ENOENT, EEXIST, ...) turned into berth codes, keeping the original as cause.
export function fromErrno(e: unknown, what: string): BerthError {
  if (e instanceof BerthError) return e;
  const errno = (e as NodeJS.ErrnoException)?.code;
  const msg = `${what}: ${(e as Error)?.message ?? String(e)}`;
  switch (errno) {
    case 'ENOENT': return new BerthError('NOT_FOUND', msg, { cause: e });
    case 'EEXIST': return new BerthError('ALREADY_EXISTS', msg, { cause: e });
    case 'EACCES': case 'EPERM': return new BerthError('PERMISSION_DENIED', msg, { cause: e });
    case 'EINVAL': return new BerthError('INVALID_ARGUMENT', msg, { cause: e });
    case 'ENOSPC': case 'EMFILE': case 'ENFILE': return new BerthError('RESOURCE_EXHAUSTED', msg, { cause: e });
    case 'EAGAIN': case 'EBUSY': case 'ECONNREFUSED': return new BerthError('UNAVAILABLE', msg, { cause: e });
    default: return new BerthError('INTERNAL', msg, { cause: e });
  }
}
