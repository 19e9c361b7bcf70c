-- Whether a browser session's connector was asked for groups: a client that asks for the
-- groups scope reuses only a session that has them (sessions from before: signed in again).
ALTER TABLE browser_sessions ADD COLUMN with_groups INTEGER NOT NULL DEFAULT 0;
