-- fxim initial schema.  Applied once; never edit: add a new delta instead.

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('users', 2);

CREATE TABLE users (
    uid TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    portrait TEXT NOT NULL DEFAULT '',
    mobile TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    company TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '',
    update_dt BIGINT NOT NULL DEFAULT 0,
    gender INTEGER NOT NULL DEFAULT 0,
    social TEXT NOT NULL DEFAULT '',
    type INTEGER NOT NULL DEFAULT 0,
    status INTEGER NOT NULL DEFAULT 0,
    searchable INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX users_mobile ON users (mobile) WHERE mobile <> '';
CREATE INDEX users_seq ON users (seq);

CREATE TABLE sessions (
    uid TEXT NOT NULL,
    cid TEXT NOT NULL,
    secret TEXT NOT NULL,
    db_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    platform INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (uid, cid)
);

CREATE TABLE login_codes (
    mobile TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    last_sent_at BIGINT NOT NULL,
    day_start BIGINT NOT NULL,
    sent_today INTEGER NOT NULL
);

-- One row per message; to_users and mentioned_targets are JSON arrays;
-- size is fxim.storage.records.estimateSize of the message.
CREATE TABLE messages (
    uid BIGINT PRIMARY KEY,
    conv_type INTEGER NOT NULL,
    conv_target TEXT NOT NULL,
    conv_line INTEGER NOT NULL,
    from_user TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    to_user TEXT NOT NULL,
    to_users TEXT NOT NULL,
    local_id BIGINT,
    content_type INTEGER NOT NULL,
    searchable_content TEXT NOT NULL,
    push_content TEXT NOT NULL,
    content TEXT NOT NULL,
    data BLOB NOT NULL,
    media_type INTEGER NOT NULL,
    remote_media_url TEXT NOT NULL,
    persist_flag INTEGER NOT NULL,
    expire_duration INTEGER NOT NULL,
    mentioned_type INTEGER NOT NULL,
    mentioned_targets TEXT NOT NULL,
    size INTEGER NOT NULL
);

-- Each user's highest inbox seq: the row lock that keeps seqs gapless.
CREATE TABLE user_heads (
    uid TEXT PRIMARY KEY,
    head BIGINT NOT NULL
);

-- Per-user inboxes; peer is fxim.storage.records.peerOf (for history).
CREATE TABLE inboxes (
    uid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    message_uid BIGINT NOT NULL,
    conv_type INTEGER NOT NULL,
    peer TEXT NOT NULL,
    conv_line INTEGER NOT NULL,
    PRIMARY KEY (uid, seq)
);
CREATE INDEX inboxes_message ON inboxes (message_uid);
CREATE INDEX inboxes_history
    ON inboxes (uid, conv_type, peer, conv_line, message_uid);

CREATE TABLE dedup_keys (
    uid TEXT NOT NULL,
    cid TEXT NOT NULL,
    local_id BIGINT NOT NULL,
    message_uid BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (uid, cid, local_id)
);
CREATE INDEX dedup_keys_created ON dedup_keys (created_at);

CREATE TABLE friends (
    uid TEXT NOT NULL,
    friend_uid TEXT NOT NULL,
    state INTEGER NOT NULL,
    alias TEXT NOT NULL DEFAULT '',
    update_dt BIGINT NOT NULL,
    PRIMARY KEY (uid, friend_uid)
);
CREATE INDEX friends_update ON friends (uid, update_dt);

CREATE TABLE friend_requests (
    from_uid TEXT NOT NULL,
    to_uid TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL,
    update_dt BIGINT NOT NULL,
    from_read_status INTEGER NOT NULL DEFAULT 0,
    to_read_status INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (from_uid, to_uid)
);
CREATE INDEX friend_requests_from ON friend_requests (from_uid, update_dt);
CREATE INDEX friend_requests_to ON friend_requests (to_uid, update_dt);

CREATE TABLE chat_groups (
    gid TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    portrait TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    type INTEGER NOT NULL DEFAULT 0,
    member_count INTEGER NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '',
    update_dt BIGINT NOT NULL DEFAULT 0,
    member_update_dt BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE group_members (
    gid TEXT NOT NULL,
    member_id TEXT NOT NULL,
    alias TEXT NOT NULL DEFAULT '',
    type INTEGER NOT NULL DEFAULT 0,
    update_dt BIGINT NOT NULL DEFAULT 0,
    position BIGINT NOT NULL,
    PRIMARY KEY (gid, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id);
