-- A user of the password database can be disabled (admin API, console): the password
-- form, the password grant and refresh refuse them. Rows from before stay enabled.
ALTER TABLE passwords ADD COLUMN disabled boolean NOT NULL DEFAULT false;
