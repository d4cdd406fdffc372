// The CONNECT password from a login token (docs/auth.md), with WebCrypto.
//
// token    = Base64(AES-128-CBC(key=iv=DEFAULT_KEY, PKCS7)(hour4 + inner))
// inner    = Base64(usertoken) "|" secret "|" dbSecret
// password = Base64(AES-128-CBC(key=iv=first 16 chars of secret & 0xFF, PKCS7)(hour4 + usertoken))
// hour4    = the hour number since 2018-01-01 00:00 UTC+8, 3 bytes little-endian + a 0 byte.

import { b64decode, b64encode } from './protocol.js';

/** The protocol's outer AES key (a constant every client has; not a secret). */
export const DEFAULT_KEY = new Uint8Array([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
  0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f]);

const HOUR_EPOCH_MS = 1514736000 * 1000;

/**
 * The hour number of the prefix for a time.
 * @param {number} nowMs
 */
export function hourOf(nowMs) {
  return Math.floor((nowMs - HOUR_EPOCH_MS) / 3600000);
}

/** The 4-byte prefix of an hour. */
export function hourPrefix(hour) {
  return new Uint8Array([hour & 0xff, (hour >> 8) & 0xff, (hour >> 16) & 0xff, 0]);
}

function subtle(cryptoImpl) {
  const c = cryptoImpl || globalThis.crypto;
  if (!c || !c.subtle) throw new Error('WebCrypto (crypto.subtle) is not available');
  return c.subtle;
}

async function aesKey(s, key) {
  return s.importKey('raw', key, { name: 'AES-CBC' }, false, ['encrypt', 'decrypt']);
}

/** AES-128-CBC, PKCS7, IV = key, over hourPrefix(hour) + plain. */
export async function aesWrap(plain, key, hour, cryptoImpl) {
  const s = subtle(cryptoImpl);
  const data = new Uint8Array(4 + plain.length);
  data.set(hourPrefix(hour), 0);
  data.set(plain, 4);
  const out = await s.encrypt({ name: 'AES-CBC', iv: key }, await aesKey(s, key), data);
  return new Uint8Array(out);
}

/** The payload after the 4-byte prefix (throws on bad padding or length). */
export async function aesUnwrap(cipher, key, cryptoImpl) {
  const s = subtle(cryptoImpl);
  if (!cipher.length || cipher.length % 16) throw new Error('ciphertext length is not a multiple of 16');
  const plain = new Uint8Array(await s.decrypt({ name: 'AES-CBC', iv: key }, await aesKey(s, key), cipher));
  if (plain.length <= 4) throw new Error('payload too short');
  return plain.subarray(4);
}

/** A session secret as an AES key: its first 16 characters, each & 0xFF. */
export function convertUserKey(secret) {
  if (secret === '') return DEFAULT_KEY;
  if (secret.length < 16) throw new Error('a secret has at least 16 characters');
  const key = new Uint8Array(16);
  for (let i = 0; i < 16; i++) key[i] = secret.charCodeAt(i) & 0xff;
  return key;
}

/**
 * What a client reads from its token.
 * @returns {Promise<{usertoken: Uint8Array, secret: string, dbSecret: string}>}
 */
export async function splitToken(token, cryptoImpl) {
  const inner = await aesUnwrap(b64decode(token), DEFAULT_KEY, cryptoImpl);
  const parts = new TextDecoder('utf-8', { fatal: true }).decode(inner).split('|');
  if (parts.length !== 3) throw new Error('a token has three parts');
  return { usertoken: b64decode(parts[0]), secret: parts[1], dbSecret: parts[2] };
}

/**
 * The CONNECT password for a token at a time.
 * @param {string} token the login token
 * @param {number} nowMs
 * @param {Crypto} [cryptoImpl] a WebCrypto implementation (default: globalThis.crypto)
 * @returns {Promise<string>}
 */
export async function makePassword(token, nowMs, cryptoImpl) {
  const { usertoken, secret } = await splitToken(token, cryptoImpl);
  return b64encode(await aesWrap(usertoken, convertUserKey(secret), hourOf(nowMs), cryptoImpl));
}
