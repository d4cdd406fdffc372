"""
Limits that hold in a cluster: fixed-window counters in Redis (memory
without Redis) behind per-IP and per-account limits on C{/send_code} and
C{/login} and a per-user send limit across devices and nodes; the real
client IP behind trusted reverse proxies.  See docs/moderation.md.
"""
