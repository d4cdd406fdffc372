// What the page keeps in localStorage between reloads: the session
// (credentials), the pull cursor, local ids, the conversation list with
// unread counts, known names and the language.  Messages themselves are
// not kept: an opened conversation loads its history from the server.

const KEY = 'fxim.webchat.v1';

export function loadState() {
  try {
    const raw = localStorage.getItem(KEY);
    if (raw) return JSON.parse(raw);
  } catch (e) {
    // storage disabled or corrupt: start afresh
  }
  return {};
}

export function saveState(state) {
  try {
    localStorage.setItem(KEY, JSON.stringify(state));
  } catch (e) {
    // full or disabled: the page still works, it just forgets on reload
  }
}

export function clearState(keep = {}) {
  try {
    localStorage.setItem(KEY, JSON.stringify(keep));
  } catch (e) { /* see saveState */ }
}
