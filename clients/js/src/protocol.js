// The fxim / universe_push WebSocket JSON protocol: names, codes and the
// conversions between wire JSON and the SDK's plain records.
// See docs/protocol.md of the fxim repository.

/** The web client's heartbeat text frame ("heartbeat content"); never answered. */
export const HEARTBEAT = '心跳内容';

/** Content types (MessageContent.type). */
export const ContentType = Object.freeze({
  UNKNOWN: 0, TEXT: 1, VOICE: 2, IMAGE: 3, LOCATION: 4, FILE: 5, VIDEO: 6, STICKER: 7,
  RECALL: 80, TIP: 90, TYPING: 91, GENERAL_NOTIFICATION: 100,
  CREATE_GROUP: 104, ADD_GROUP_MEMBER: 105, KICKOFF_GROUP_MEMBER: 106, QUIT_GROUP: 107,
  DISMISS_GROUP: 108, TRANSFER_GROUP_OWNER: 109, CHANGE_GROUP_NAME: 110,
  MODIFY_GROUP_ALIAS: 111, CHANGE_GROUP_PORTRAIT: 112,
});

/** Content types that are never stored: pushed at once, never queued. */
export const TRANSPARENT_TYPES = new Set([91, 401, 402, 403, 404, 405]);

/** Conversation types. */
export const ConversationType = Object.freeze({ PRIVATE: 0, GROUP: 1, CHATROOM: 2, CHANNEL: 3 });

/** Media types (buckets) for uploads. */
export const MediaType = Object.freeze({
  GENERAL: 0, IMAGE: 1, VOICE: 2, VIDEO: 3, FILE: 4, PORTRAIT: 5, FAVORITE: 6,
});

/** Friend request status. */
export const FriendRequestStatus = Object.freeze({ SENT: 0, ACCEPTED: 1, REJECTED: 2 });

/** ErrorCode values (the server's first reply byte; on WebSocket only "failed" is known). */
export const ErrorCode = Object.freeze({
  SUCCESS: 0, INVALID_DATA: 2, SERVER_ERROR: 4, NOT_IN_GROUP: 9, NOT_RIGHT: 248,
  TIMEOUT: 249, OVER_FREQUENCY: 250, INVALID_PARAMETER: 251, NOT_EXIST: 253, NOT_IMPLEMENT: 254,
});

/** CONNECT_ACK subsignal names, by result code. */
export const CONNECT_ACK_NAMES = Object.freeze({
  1: 'CONNECTION_ACCEPTED',
  2: 'CONNECTION_REFUSED_UNACCEPTABLE_PROTOCOL_VERSION',
  3: 'CONNECTION_REFUSED_IDENTIFIER_REJECTED',
  4: 'CONNECTION_REFUSED_SERVER_UNAVAILABLE',
  5: 'CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD',
  6: 'CONNECTION_REFUSED_NOT_AUTHORIZED',
  7: 'CONNECTION_REFUSED_UNEXPECT_NODE',
  8: 'CONNECTION_REFUSED_SESSION_NOT_EXIST',
});

/** CONNECT_ACK codes after which retrying the same credentials is pointless. */
export const FATAL_CONNECT = new Set([2, 3, 5, 6, 8]);

/**
 * The result code of a CONNECT_ACK subsignal name (0 if unknown).
 * @param {string} name
 * @returns {number}
 */
export function connectAckCode(name) {
  for (const [code, n] of Object.entries(CONNECT_ACK_NAMES)) {
    if (n === name) return Number(code);
  }
  return 0;
}

/** Subsignals whose WebSocket reply is a WsResult {"code":200|400}. */
export const CODE_ONLY = new Set(['FAR', 'FALS', 'FHR', 'FRUS', 'GAM', 'GKM', 'GQ', 'GD', 'GMI',
  'MMI', 'MR', 'GC', 'MDR', 'MRR']);

/** MRP's reportType: what a delivery/read report says. */
export const ReportType = Object.freeze({ DELIVERED: 1, READ: 2 });

/**
 * @typedef {object} Receipt
 * @property {'delivered'|'read'} kind
 * @property {string} uid who delivered / read
 * @property {string} target the conversation: the reporter (1:1) or the group id
 * @property {number} date the reporter's date (it sends the newest message timestamp it has)
 */

/** @returns {Receipt | null} null for a report type this SDK does not know */
export function receiptFromJson(r) {
  const type = Number(r && r.reportType);
  if (type !== ReportType.DELIVERED && type !== ReportType.READ) return null;
  return { kind: type === ReportType.DELIVERED ? 'delivered' : 'read', uid: String(r.uid || ''),
    target: String(r.target || ''), date: Number(r.date || 0) };
}

/**
 * @typedef {object} Conversation
 * @property {number} type 0 private, 1 group
 * @property {string} target the peer's uid or the group id
 * @property {number} [line]
 */

/**
 * @typedef {object} MessageContent
 * @property {number} type
 * @property {string} [searchableContent]
 * @property {string} [pushContent]
 * @property {string} [content]
 * @property {string} [binaryContent] Base64 of the binary data
 * @property {number} [mediaType]
 * @property {string} [remoteMediaUrl]
 * @property {number} [mentionedType]
 * @property {string[]} [mentionedTargets]
 * @property {number} [persistFlag] fxim addition, present when non-zero
 * @property {number} [expireDuration] fxim addition, present when non-zero
 */

/**
 * A stored (or transparent) message as the SDK hands it out.
 * @typedef {object} Message
 * @property {string} uid the server's message uid ("" for transparent ones)
 * @property {Conversation} conversation
 * @property {string} from
 * @property {MessageContent} content
 * @property {number} timestamp ms
 * @property {string} [to]
 * @property {string[]} [tos]
 */

/**
 * @typedef {object} SendResult
 * @property {string} uid
 * @property {number} timestamp
 * @property {number} localId
 */

/**
 * @typedef {object} User
 * @property {string} uid
 * @property {string} name
 * @property {string} displayName
 * @property {string} portrait
 * @property {string} mobile
 * @property {string} email
 */

/**
 * @typedef {object} Friend
 * @property {string} uid
 * @property {number} state 0 normal, 1 deleted, 2 blacked
 * @property {string} alias
 * @property {number} updateDt
 */

/**
 * @typedef {object} FriendRequest
 * @property {string} from
 * @property {string} to
 * @property {string} reason
 * @property {number} status 0 sent, 1 accepted, 2 rejected
 * @property {number} updateDt
 */

/**
 * @typedef {object} GroupInfo
 * @property {string} id
 * @property {string} name
 * @property {string} portrait
 * @property {string} owner
 * @property {number} memberCount
 * @property {string} extra
 */

/**
 * @typedef {object} GroupMember
 * @property {string} memberId
 * @property {string} alias
 * @property {number} type 0 normal, 1 manager, 2 owner
 */

/**
 * A group notification decoded (content types 104-112).
 * @typedef {object} GroupEvent
 * @property {number} kind the content type
 * @property {string} groupId
 * @property {string} operator
 * @property {string} name
 * @property {string[]} members
 */

const str = (v) => (v === null || v === undefined ? '' : String(v));
const num = (v) => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

/**
 * Encode one client envelope as text.
 * @param {string} signal e.g. "PUBLISH"
 * @param {string} subSignal e.g. "MS"
 * @param {number} messageId 1-65535
 * @param {any} content
 * @returns {string}
 */
export function encodeEnvelope(signal, subSignal, messageId, content) {
  return JSON.stringify({ signal, subSignal, messageId, content });
}

/**
 * Decode a server envelope.  Its content is JSON text inside a string
 * ("" on failure), parsed here: `value` is undefined when absent or "".
 * @param {string} text
 * @returns {{signal: string, subSignal: string, messageId: number, failed: boolean, value: any}}
 */
export function decodeEnvelope(text) {
  const o = JSON.parse(text);
  if (!o || typeof o !== 'object' || typeof o.signal !== 'string') {
    throw new Error('not an envelope');
  }
  const raw = o.content;
  let value;
  if (typeof raw === 'string' && raw !== '') value = JSON.parse(raw);
  else if (raw !== undefined && raw !== null && raw !== '') value = raw;
  return {
    signal: o.signal,
    subSignal: str(o.subSignal),
    messageId: num(o.messageId),
    failed: raw === '',
    value,
  };
}

/**
 * @param {any} c the wire content object
 * @returns {MessageContent}
 */
export function contentFromJson(c) {
  c = c || {};
  const out = {
    type: num(c.type),
    searchableContent: str(c.searchableContent),
    pushContent: str(c.pushContent),
    content: str(c.content),
    mediaType: num(c.mediaType),
    remoteMediaUrl: str(c.remoteMediaUrl),
    mentionedType: num(c.mentionedType),
  };
  if (c.binaryContent) out.binaryContent = String(c.binaryContent);
  if (Array.isArray(c.mentionedTargets)) out.mentionedTargets = c.mentionedTargets.map(str);
  if (c.persistFlag) out.persistFlag = num(c.persistFlag);
  if (c.expireDuration) out.expireDuration = num(c.expireDuration);
  return out;
}

/**
 * @param {MessageContent} c
 * @returns {object} the wire content object
 */
export function contentToJson(c) {
  const out = {
    type: c.type,
    searchableContent: c.searchableContent || '',
    pushContent: c.pushContent || '',
    content: c.content || '',
    mediaType: c.mediaType || 0,
    remoteMediaUrl: c.remoteMediaUrl || '',
    mentionedType: c.mentionedType || 0,
  };
  if (c.binaryContent) out.binaryContent = c.binaryContent;
  if (c.mentionedTargets && c.mentionedTargets.length) out.mentionedTargets = [...c.mentionedTargets];
  return out;
}

/**
 * A pulled message (MessageResponse): its `messageId` is the server uid.
 * @returns {Message}
 */
export function messageFromJson(m) {
  const out = {
    uid: m.messageId ? String(m.messageId) : '',
    conversation: { type: num(m.conversationType), target: str(m.target), line: num(m.line) },
    from: str(m.from),
    content: contentFromJson(m.content),
    timestamp: num(m.timestamp),
  };
  if (m.to) out.to = String(m.to);
  if (Array.isArray(m.tos)) out.tos = m.tos.map(str);
  return out;
}

/**
 * The MS request content: `messageId` is the client's local id.
 */
export function sendMessageJson(conversation, from, content, localId, toUser = '', tos = []) {
  const out = {
    conversationType: conversation.type,
    target: conversation.target,
    line: conversation.line || 0,
    from,
    content: contentToJson(content),
    messageId: localId,
    direction: 0,
    status: 0,
    messageUid: 0,
    timestamp: 0,
    to: toUser || '',
  };
  if (tos && tos.length) out.tos = [...tos];
  return out;
}

/** @returns {User} */
export function userFromJson(u) {
  return {
    uid: str(u.uid), name: str(u.name), displayName: str(u.displayName), portrait: str(u.portrait),
    mobile: str(u.mobile), email: str(u.email), gender: num(u.gender), address: str(u.address),
    company: str(u.company), social: str(u.social), extra: str(u.extra), type: num(u.type),
    updateDt: num(u.updateDt),
  };
}

/** @returns {Friend} */
export function friendFromJson(f) {
  return { uid: str(f.friendUid), state: num(f.state), alias: str(f.alias), updateDt: num(f.timestamp) };
}

/** @returns {FriendRequest} */
export function friendRequestFromJson(r) {
  return {
    from: str(r.from), to: str(r.target), reason: str(r.reason), status: num(r.status),
    updateDt: num(r.timestamp),
  };
}

/** @returns {GroupInfo} */
export function groupInfoFromJson(g) {
  return {
    id: str(g.target), name: str(g.name), portrait: str(g.portrait), owner: str(g.owner),
    type: num(g.type), memberCount: num(g.memberCount), extra: str(g.extra), updateDt: num(g.updateDt),
  };
}

/** @returns {GroupMember} */
export function groupMemberFromJson(m) {
  return { memberId: str(m.memberId), alias: str(m.alias), type: num(m.type), updateDt: num(m.updateDt) };
}

/** Standard Base64 of bytes. */
export function b64encode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Bytes of standard Base64 (throws on bad input). */
export function b64decode(text) {
  const s = atob(String(text).trim());
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Decode a group notification (content types 104-112 in a group): the
 * binary data is JSON {"g": group, "o": operator, "n": name, "ms": members}.
 * @param {Message} message
 * @returns {GroupEvent | null}
 */
export function groupEvent(message) {
  const c = message.content;
  if (c.type < 104 || c.type > 117) return null;
  let data = {};
  try {
    if (c.binaryContent) data = JSON.parse(new TextDecoder().decode(b64decode(c.binaryContent)));
  } catch (e) {
    data = {};
  }
  if (!data || typeof data !== 'object') data = {};
  return {
    kind: c.type,
    groupId: str(data.g || message.conversation.target),
    operator: str(data.o || message.from),
    name: str(data.n || ''),
    members: Array.isArray(data.ms) ? data.ms.map(str) : [],
  };
}
