-- i13: delivery/read reports and user settings of the newer clients.
-- Applied once; never edit: add a new delta instead.

-- Each user's report sequence (MRN head), gapless per user.
CREATE TABLE report_heads (
    uid TEXT PRIMARY KEY,
    head BIGINT NOT NULL
);

-- The latest report per (owner, reporter, target, kind), as the owner sees
-- it: target is the reporter for 1:1 reports, the group for group ones;
-- kind 1 delivered, 2 read; seq moves to the owner's new head each time
-- the report changes (so a pull from any seq sees each change once).
CREATE TABLE user_reports (
    uid TEXT NOT NULL,
    reporter TEXT NOT NULL,
    target TEXT NOT NULL,
    kind INTEGER NOT NULL,
    report_date BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (uid, reporter, target, kind)
);
CREATE UNIQUE INDEX user_reports_seq ON user_reports (uid, seq);

-- How far each device has pulled its user's reports (MRP).
CREATE TABLE report_cursors (
    uid TEXT NOT NULL,
    cid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (uid, cid)
);

-- Per-user settings (UG/UP/UN); update_dt is the setting version.
CREATE TABLE user_settings (
    uid TEXT NOT NULL,
    scope INTEGER NOT NULL,
    skey TEXT NOT NULL,
    value TEXT NOT NULL,
    update_dt BIGINT NOT NULL,
    PRIMARY KEY (uid, scope, skey)
);
CREATE INDEX user_settings_version ON user_settings (uid, update_dt);

CREATE TABLE setting_heads (
    uid TEXT PRIMARY KEY,
    head BIGINT NOT NULL
);
