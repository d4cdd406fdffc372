// The HTTP half: /send_code, /login and media uploads (a PUT to a presigned URL).

/** The login API refused (its RestCode in `code`). */
export class LoginError extends Error {
  constructor(code, message) {
    super(message || `login failed with code ${code}`);
    this.name = 'LoginError';
    this.code = code;
  }
}

/** A media upload was refused with an HTTP status. */
export class UploadFailed extends Error {
  constructor(status) {
    super(`upload refused with HTTP ${status}`);
    this.name = 'UploadFailed';
    this.status = status;
  }
}

/**
 * @typedef {object} Credentials
 * @property {string} uid
 * @property {string} token
 * @property {string} clientId
 * @property {boolean} [register] whether the login created the account
 */

async function postJson(fetchImpl, url, body) {
  const response = await fetchImpl(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json;charset=UTF-8' },
    body: JSON.stringify(body),
  });
  let answer;
  try {
    answer = await response.json();
  } catch (e) {
    throw new LoginError(-1, `HTTP ${response.status}: not a JSON answer`);
  }
  if (!answer || answer.code !== 0) {
    throw new LoginError(answer ? answer.code : -1, answer ? answer.message : '');
  }
  return answer.result;
}

/**
 * Ask the server to send a login code to a mobile or an e-mail address.
 * @param {string} httpUrl e.g. "http://127.0.0.1:8081"
 * @param {string} mobile
 * @param {typeof fetch} [fetchImpl]
 */
export async function sendCode(httpUrl, mobile, fetchImpl = globalThis.fetch) {
  await postJson(fetchImpl, httpUrl.replace(/\/$/, '') + '/send_code', { mobile });
}

/**
 * Log in with a code; `clientId` names this device.
 * @returns {Promise<Credentials>}
 */
export async function login(httpUrl, mobile, code, clientId, fetchImpl = globalThis.fetch) {
  const result = await postJson(fetchImpl, httpUrl.replace(/\/$/, '') + '/login',
    { mobile, code, clientId });
  return { uid: result.userId, token: result.token, clientId, register: !!result.register };
}

/**
 * PUT bytes to a presigned URL.  In a browser this uses XMLHttpRequest, so
 * that `onProgress(sent, total)` sees the upload; elsewhere fetch.
 * @param {string} url
 * @param {Blob|ArrayBuffer|Uint8Array} body
 * @param {{onProgress?: (sent: number, total: number) => void, contentType?: string, fetchImpl?: typeof fetch}} [options]
 * @returns {Promise<void>}
 */
export function putBytes(url, body, { onProgress, contentType = 'application/octet-stream', fetchImpl } = {}) {
  if (typeof XMLHttpRequest !== 'undefined' && !fetchImpl) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', url);
      xhr.setRequestHeader('Content-Type', contentType);
      if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded, e.total);
      xhr.onload = () => (xhr.status === 200 ? resolve() : reject(new UploadFailed(xhr.status)));
      xhr.onerror = () => reject(new UploadFailed(0));
      xhr.send(body);
    });
  }
  const f = fetchImpl || globalThis.fetch;
  return f(url, { method: 'PUT', headers: { 'Content-Type': contentType }, body }).then(async (r) => {
    await r.arrayBuffer();
    if (r.status !== 200) throw new UploadFailed(r.status);
    const size = body.byteLength !== undefined ? body.byteLength : body.size;
    if (onProgress) onProgress(size, size);
  });
}
