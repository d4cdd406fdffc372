-- i12: e-mail logins, the admin audit log.

-- The normalised e-mail a user logs in with ('' for none).  Kept apart
-- from the profile's email (which MMI may change) so that editing a
-- profile can never take over another person's login.
ALTER TABLE users ADD COLUMN login_email TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_login_email ON users (login_email) WHERE login_email <> '';

-- Every admin API action that changed something (fxim.admin.audit).
INSERT INTO counters (name, value) VALUES ('admin_audit', 0);
CREATE TABLE admin_audit (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    peer TEXT NOT NULL
);
CREATE INDEX admin_audit_at ON admin_audit (at);
