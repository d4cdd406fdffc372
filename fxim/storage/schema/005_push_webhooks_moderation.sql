-- i14: offline push targets and preferences, the durable outbox (push jobs
-- and webhook events), and message reports.  Applied once; never edit.

-- One push target per device; replaced on re-register, dropped on logout.
CREATE TABLE push_targets (
    uid TEXT NOT NULL,
    cid TEXT NOT NULL,
    platform TEXT NOT NULL DEFAULT '',
    push_token TEXT NOT NULL,
    app_id TEXT NOT NULL DEFAULT '',
    voip_token TEXT NOT NULL DEFAULT '',
    badge INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (uid, cid)
);
CREATE INDEX push_targets_token ON push_targets (push_token);

-- Push preferences: conv_key '' is the user's global do-not-disturb,
-- otherwise 'type:target:line' of a muted conversation.
CREATE TABLE push_prefs (
    uid TEXT NOT NULL,
    conv_key TEXT NOT NULL,
    PRIMARY KEY (uid, conv_key)
);

-- A durable queue: state 0 pending, 2 dead-lettered (delivered rows are
-- deleted).  A job is leased by a node until lease_until; order_key keeps
-- jobs of one key in id order (webhooks: per conversation).
CREATE TABLE outbox (
    id BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    order_key TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT NOT NULL DEFAULT 0,
    lease_node TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (kind, state, next_at);
CREATE INDEX outbox_order ON outbox (kind, order_key, state, id);
INSERT INTO counters (name, value) VALUES ('outbox', 0);

-- Messages users reported to moderators.
CREATE TABLE message_reports (
    id BIGINT PRIMARY KEY,
    reporter TEXT NOT NULL,
    message_uid BIGINT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL DEFAULT 0
);
INSERT INTO counters (name, value) VALUES ('reports', 0);
