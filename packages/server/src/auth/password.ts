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

/** A hash of nothing anyone knows, compared against when there is no user: constant cost. */
let decoy: Promise<string> | undefined;

/** Whether `password` matches `hash`; with no hash, compares against a decoy and says no. */
export async function comparePassword(password: string, hash: Buffer | undefined, cost: number): Promise<boolean> {
  if (Buffer.byteLength(password) > MaxPasswordBytes) return false;
  if (!hash || hash.length === 0) {
    decoy ??= bcrypt.hash(`decoy-${Math.random()}`, cost);
    await bcrypt.compare(password, await decoy);
    return false;
  }
  return bcrypt.compare(password, hash.toString());
}
