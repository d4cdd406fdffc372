// fxim JavaScript SDK: the WebSocket JSON protocol of fxim / universe_push.
export { ChatClient, State, NotConnected, Unauthorized, conversation, randomClientId } from './client.js';
export { Connection, RequestFailed, ConnectionLost, RequestTimeout } from './connection.js';
export { Backoff } from './backoff.js';
export { AgentStreams } from './agents.js';
export { LoginError, UploadFailed, login, sendCode, putBytes } from './http.js';
export { makePassword, splitToken, hourOf } from './crypto.js';
export * from './protocol.js';
