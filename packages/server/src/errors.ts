// How errors leave the admin API: one body shape, and the host's FerryError codes mapped to HTTP statuses
// (the table in host.ts). Stacks and causes stay in the log.
import { isFerryError } from '@ferry/core';

export const ServerErrorCodes = {
  SERVER_UNAUTHENTICATED: 'SERVER_UNAUTHENTICATED',
  SERVER_FORBIDDEN: 'SERVER_FORBIDDEN',
  SERVER_AUTH_UNAVAILABLE: 'SERVER_AUTH_UNAVAILABLE',
  SERVER_BAD_REQUEST: 'SERVER_BAD_REQUEST',
  SERVER_ROUTE_NOT_FOUND: 'SERVER_ROUTE_NOT_FOUND',
  SERVER_METHOD_NOT_ALLOWED: 'SERVER_METHOD_NOT_ALLOWED',
  SERVER_URI_TOO_LONG: 'SERVER_URI_TOO_LONG',
} as const;

export interface ErrorBody {
  code: string;
  message: string;
  retryable: boolean;
}

/** Statuses for the codes AdminHost documents; any other FerryError is a 500 that keeps its code. */
export const hostErrorStatus: Readonly<Record<string, number>> = {
  PIPELINE_NOT_FOUND: 404,
  PIPELINE_RUNNING: 409,
  PIPELINE_STATE: 409,
  DLQ_LETTER_NOT_FOUND: 404,
  DLQ_LIST_UNSUPPORTED: 501,
  DLQ_REPLAY_UNSUPPORTED: 501,
  SERVER_NOT_IN_CLUSTER: 409,
  SERVER_WORKER_NOT_FOUND: 404,
};

/** What a handler's error becomes on the wire; `statuses` maps FerryError codes to HTTP statuses. */
export function errorResponse(
  error: unknown,
  statuses: Readonly<Record<string, number>> = hostErrorStatus,
): { status: number; body: ErrorBody } {
  if (isFerryError(error)) {
    return {
      status: statuses[error.code] ?? 500,
      body: { code: error.code, message: error.message, retryable: error.retryable },
    };
  }
  const fastifyError = error as { validation?: unknown; statusCode?: number; message?: string };
  // Fastify's own client errors: schema validation, malformed JSON, an unsupported media type, a big body.
  const status = fastifyError.statusCode;
  if (fastifyError.validation !== undefined || (status !== undefined && status >= 400 && status < 500)) {
    return {
      status: status ?? 400,
      body: {
        code: ServerErrorCodes.SERVER_BAD_REQUEST,
        message: String(fastifyError.message),
        retryable: false,
      },
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { code: 'INTERNAL', message, retryable: false } };
}
