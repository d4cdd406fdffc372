// Streaming agent replies: the server's SAI frames {i, d, f, t} (stream id,
// delta text, final flag, agent uid) assembled into one growing reply per
// stream.  The frames are never stored: once `final` is seen the agent's
// whole answer follows as an ordinary stored message from the agent, which
// replaces the streamed text (docs/client.md).

/**
 * @typedef {object} AgentStream
 * @property {string} id the stream id (`i`)
 * @property {string} agent the agent's uid (`t`): the 1:1 conversation it belongs to
 * @property {string} text everything received so far
 * @property {string} delta what this frame added
 * @property {boolean} final no more frames follow; the stored answer comes next
 */

export class AgentStreams {
  /** @param {(s: AgentStream) => void} emit */
  constructor(emit) {
    this.emit = emit;
    /** @type {Map<string, {agent: string, text: string}>} */
    this.open = new Map();
  }

  /** One SAI frame (already parsed); a malformed one is dropped. */
  frame(v) {
    if (!v || typeof v !== 'object' || typeof v.i !== 'string' || !v.i) return;
    const delta = typeof v.d === 'string' ? v.d : '';
    let s = this.open.get(v.i);
    if (!s) {
      s = { agent: String(v.t || ''), text: '' };
      this.open.set(v.i, s);
    }
    s.text += delta;
    const final = v.f === true;
    if (final) this.open.delete(v.i);
    this.emit({ id: v.i, agent: s.agent, text: s.text, delta, final });
  }
}
