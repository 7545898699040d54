-- Version 2: claim codes, releases and rollouts, and each box's latest
-- box.health event kept in its row so that showing the fleet reads no
-- events.

ALTER TABLE boxes
	ADD COLUMN health_pos  bigint NOT NULL DEFAULT 0,
	ADD COLUMN health_time timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00',
	ADD COLUMN health_data bytea;

-- lookup is unique: a box's proof finds one claim.
CREATE TABLE claims (
	id      bigint PRIMARY KEY,
	lookup  bytea NOT NULL UNIQUE,
	village text NOT NULL,
	doc     bytea NOT NULL
);
CREATE INDEX claims_village ON claims (village);

CREATE TABLE releases (
	version     text PRIMARY KEY,
	uploaded_at timestamptz NOT NULL,
	doc         bytea NOT NULL
);

CREATE TABLE rollouts (
	id         text PRIMARY KEY,
	created_at timestamptz NOT NULL,
	doc        bytea NOT NULL
);
