// How etcd 3.4's grpc-gateway (v1 runtime.DefaultHTTPError) writes a failed call: the body
// {"error": message, "message": message, "code": grpcCode}, the HTTP status from
// runtime.HTTPStatusFromCode.
import type { HttpAnswer } from '../health.js';

const httpStatusOfCode: Record<number, number> = {
  0: 200, // OK
  1: 408, // Canceled
  2: 500, // Unknown
  3: 400, // InvalidArgument
  4: 504, // DeadlineExceeded
  5: 404, // NotFound
  6: 409, // AlreadyExists
  7: 403, // PermissionDenied
  8: 429, // ResourceExhausted
  9: 412, // FailedPrecondition
  10: 409, // Aborted
  11: 400, // OutOfRange
  12: 501, // Unimplemented
  13: 500, // Internal
  14: 503, // Unavailable
  15: 500, // DataLoss
  16: 401, // Unauthenticated
};

export function httpStatusOf(code: number): number {
  return httpStatusOfCode[code] ?? 500;
}

const json = { 'Content-Type': 'application/json' };

/** A gRPC status as etcd's gateway answers it. */
export function errorAnswer(code: number, message: string): HttpAnswer {
  return { status: httpStatusOf(code), headers: json, body: JSON.stringify({ error: message, message, code }) };
}

/** What Go's http.ServeMux and grpc-gateway answer outside the table. */
export const notFound: HttpAnswer = { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: 'Not Found\n' };
export const methodNotAllowed: HttpAnswer = {
  status: 405,
  headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  body: 'Method Not Allowed\n',
};
