// CONNECT frames computed the way the 飞享 web clients (vue-chat and
// vue-chat-pro, file src/websocket/utils/aes.js and websocket/index.js)
// compute them, with the crypto-js version they lock (3.1.9-1), for
// fxim's trial test fxim.test.test_e2e_webpassword.
//
// Input (the file named by the first argument, else stdin): a JSON array of
// {"token", "userName", "clientIdentifier"}.
// Output (stdout): a JSON array, in the same order, of
//   {"frame": the CONNECT text frame the browser sends,
//    "usertokenBytes": how many bytes the client put after the hour prefix}.
//
// Every step follows the browser, including its quirks (see docs/auth.md,
// "What the clients do with the bytes"):
//   - the token is decrypted by CryptoJS.AES.decrypt(<Base64 string>, ...),
//     the first 4 plaintext bytes are dropped from its hex form, the rest is
//     read as UTF-8 and split at the first two "|";
//   - the key is the secret's first 16 UTF-16 code units, each & 0xFF, made
//     into a string again and then UTF-8 encoded by crypto-js;
//   - the usertoken's Base64 is parsed into a WordArray, and turned into
//     bytes by walking EVERY 32-bit word, 4 bytes each, big-endian, without
//     looking at sigBytes: the bytes come back zero-padded to a multiple of 4;
//   - the hour is computed from getMilliseconds() instead of the time.
'use strict';

const fs = require('fs');
const CryptoJS = require('crypto-js');

const OUTER_KEY = CryptoJS.enc.Base64.parse('ABEiM0RVZnd4eXp7fH1+fw==');

function decryptToken(token) {
  const plain = CryptoJS.AES.decrypt(token, OUTER_KEY, {
    iv: OUTER_KEY, mode: CryptoJS.mode.CBC, padding: CryptoJS.pad.Pkcs7,
  });
  // Drop the 4-byte hour prefix: 8 hex digits.
  return CryptoJS.enc.Hex.parse(plain.toString().slice(8))
    .toString(CryptoJS.enc.Utf8);
}

// A WordArray's words -> bytes, as the web client does it: all words, 4
// bytes each, most significant first; sigBytes is not consulted.
function wordsToBytes(words) {
  const bytes = [];
  for (const word of words) {
    bytes.push((word >> 24) & 0xFF, (word >> 16) & 0xFF,
               (word >> 8) & 0xFF, word & 0xFF);
  }
  return bytes;
}

function hourPrefixedBase64(usertokenBase64) {
  const usertoken = wordsToBytes(CryptoJS.enc.Base64.parse(usertokenBase64).words);
  // The client's bug: milliseconds of the current second, not the time.
  const hour = (new Date().getMilliseconds() / 1000 - 1514736000) / 3600;
  const bytes = [hour & 0xFF, (hour & 0xFF00) >> 8, (hour & 0xFF0000) >> 16,
                 (hour & 0xFF) >> 24].concat(usertoken);
  return {base64: btoa(String.fromCharCode(...new Uint8Array(bytes))),
          usertokenBytes: usertoken.length};
}

function password(usertokenBase64, secret) {
  const keyCodes = [];
  for (let i = 0; i < 16; i++) {
    keyCodes.push(secret.charCodeAt(i) & 0xFF);
  }
  const key = CryptoJS.enc.Utf8.parse(String.fromCharCode(...keyCodes));
  const prefixed = hourPrefixedBase64(usertokenBase64);
  const encrypted = CryptoJS.AES.encrypt(CryptoJS.enc.Base64.parse(prefixed.base64), key, {
    iv: key, mode: CryptoJS.mode.CBC, padding: CryptoJS.pad.Pkcs7,
  });
  return {password: encrypted.ciphertext.toString(CryptoJS.enc.Base64),
          usertokenBytes: prefixed.usertokenBytes};
}

function connectFrame(item) {
  let rest = decryptToken(item.token);
  const pwd = rest.substring(0, rest.indexOf('|'));
  rest = rest.substring(rest.indexOf('|') + 1);
  const secret = rest.substring(0, rest.indexOf('|'));
  const made = password(pwd, secret);
  const frame = JSON.stringify({
    signal: 'CONNECT', subSignal: 'NONE', messageId: 0,
    content: {userName: item.userName, password: made.password,
              clientIdentifier: item.clientIdentifier},
  });
  return {frame: frame, usertokenBytes: made.usertokenBytes};
}

function main(text) {
  process.stdout.write(JSON.stringify(JSON.parse(text).map(connectFrame)));
}

if (process.argv[2]) {
  main(fs.readFileSync(process.argv[2], 'utf8'));
} else {
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { input += chunk; });
  process.stdin.on('end', () => main(input));
}
