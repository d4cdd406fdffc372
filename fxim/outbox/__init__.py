"""
A durable job queue (the C{outbox} table) and the worker that drains it:
at least once, retried with backoff, dead-lettered after too many
failures, optionally in order per key.  Offline pushes
(L{fxim.push}) and webhooks (L{fxim.webhooks}) are queued here.
"""
