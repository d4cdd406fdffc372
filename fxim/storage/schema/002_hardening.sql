-- i10b hardening: the per-user cap on owned groups counts by owner.
CREATE INDEX chat_groups_owner ON chat_groups (owner);
