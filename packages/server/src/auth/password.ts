// Password hashing: bcrypt (the `bcrypt` npm package — native, prebuilt for the common
// platforms, hashing and comparing on libuv's thread pool, so a slow hash never blocks the event
// loop that runs raft), at --bcrypt-cost. Hashes are `$2b$`, which Go's x/crypto/bcrypt (etcd)
// verifies as well.
//
// Invariants: a plain password exists only in the API layer, between the request and its hash;
// it is never proposed, stored or logged. Comparisons for unknown users and no-password users
// still run one bcrypt comparison, so a failed Authenticate costs what a successful one does.
import bcrypt from 'bcrypt';

export const DefaultBcryptCost = 10;
/** bcrypt reads at most 72 bytes: a longer password would be silently truncated. */
export const MaxPasswordBytes = 72;

export class PasswordError extends Error {
  override readonly name = 'PasswordError';
  /** gRPC INVALID_ARGUMENT. */
  readonly code = 3;
}

export function checkPassword(password: string): void {
  const n = Buffer.byteLength(password);
  if (n > MaxPasswordBytes) throw new PasswordError(`etcdserver: password is ${n} bytes; at most ${MaxPasswordBytes} are allowed (bcrypt)`);
}

export async function hashPassword(password: string, cost: number): Promise<string> {
  checkPassword(password);
  return bcrypt.hash(password, cost);
}

/**
 * The hash compared against when there is no usable one (unknown user, no-password user): a
 * fixed bcrypt hash whose cost field is set to the configured cost, so the comparison runs the
 * full key schedule at that cost, exactly as a real user's would, and matches nothing (its
 * digest was made up, not computed from any password). Fixed: no first-call hashing that would make
 * the first failure slower than the others.
 */
export function decoyHash(cost: number): string {
  return `$2b$${String(cost).padStart(2, '0')}$Jm0t2oVpWqk0RkqCwD1yVuQ5n9VbC0e6yQ7rXhL3t8oZf4cY2mB1u`;
}

/** What comparePassword runs (bcrypt; a test may watch it). */
export interface Comparer {
  compare(password: string, hash: string): Promise<boolean>;
}

/**
 * Whether `password` matches `hash`. With no hash, or a password bcrypt cannot take, one
 * comparison still runs (against the decoy) and the answer is no: a failed Authenticate costs
 * what a successful one does.
 */
export async function comparePassword(
  password: string,
  hash: Buffer | undefined,
  cost: number,
  hasher: Comparer = bcrypt,
): Promise<boolean> {
  const usable = hash !== undefined && hash.length > 0 && Buffer.byteLength(password) <= MaxPasswordBytes;
  if (!usable) {
    await hasher.compare(password.slice(0, MaxPasswordBytes), decoyHash(cost));
    return false;
  }
  return hasher.compare(password, hash.toString());
}
