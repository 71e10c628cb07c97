// Logging hook. Raft itself never prints; it reports through this interface, which defaults to a
// logger that discards everything.

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Drops every message. */
export const discardLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
