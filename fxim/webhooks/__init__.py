"""
Webhooks: signed HTTP callbacks for what happens on a node (from a durable,
per-conversation ordered outbox), and the before-send hook that may
accept, reject or rewrite a message.  See docs/webhooks.md.
"""
