"""
Offline push: devices register push targets; a stored message for a
device that is not connected queues a push job in the durable outbox,
which a pusher plugin (a Matrix push gateway such as Sygnal, or a signed
webhook) delivers.  See docs/push.md.
"""
