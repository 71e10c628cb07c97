// The peer transport's surface (re-exported by the package where the server wires it).
export { Transport } from './transport.js';
export type { TransportOptions } from './transport.js';
export type { TransportHandler } from './types.js';
export { createPeerListener } from './peer_listener.js';
export type { PeerListenerOptions } from './peer_listener.js';
export { loadPeerTls, peerClientTlsOptions, peerDialTls, peerServerTlsOptions } from './tls.js';
export type { PeerTls } from './tls.js';
export { Backoff, realTimers } from './backoff.js';
export type { BackoffOptions, Timers } from './backoff.js';
export { defaultMaxFrameBytes, decodeBatch, encodeFrames, FrameDecoder, FrameError } from './framing.js';
export { idHex, parseIdHex, RejectText, snapshotPath, streamPath } from './wire.js';
