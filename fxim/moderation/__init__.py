"""
Moderation: the sensitive-word filter (message text, nicknames, group
names) and message reports.  See docs/moderation.md.
"""
