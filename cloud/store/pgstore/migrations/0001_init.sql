-- Version 1: every kind the township keeps. Records the service reads and
-- writes whole are a JSON document (doc) beside the columns it filters,
-- orders or locks on; the events, the hot path, are plain columns.

CREATE TABLE counters (
	name text PRIMARY KEY,
	n    bigint NOT NULL
);

CREATE TABLE ping (
	id int PRIMARY KEY,
	at timestamptz NOT NULL
);

CREATE TABLE boxes (
	id             text PRIMARY KEY,
	name           text NOT NULL,
	place          text NOT NULL,
	secret_hash    bytea,
	created_at     timestamptz NOT NULL,
	online         boolean NOT NULL,
	last_seen      timestamptz NOT NULL,
	applied_rev    bigint NOT NULL,
	outbox_backlog bigint NOT NULL,
	reported_at    timestamptz NOT NULL,
	desired_rev    bigint NOT NULL,
	retired_at     timestamptz NOT NULL,
	-- the current incarnation of the box's event log, and how many
	-- events it holds, so CountEvents reads one row
	epoch          text NOT NULL,
	incarnation    int NOT NULL,
	watermark      bigint NOT NULL,
	events         bigint NOT NULL
);

CREATE TABLE desired (
	box_id  text PRIMARY KEY REFERENCES boxes (id),
	rev     bigint NOT NULL,
	payload bytea NOT NULL
);

CREATE TABLE epochs (
	box_id      text NOT NULL REFERENCES boxes (id),
	epoch       text NOT NULL,
	incarnation int NOT NULL,
	watermark   bigint NOT NULL,
	diverged    boolean NOT NULL,
	PRIMARY KEY (box_id, epoch)
);

-- A box's log in position order is (incarnation, seq): the primary key
-- serves ListEvents, the watermark walk and SearchEvents' backward reads.
-- No foreign key: AppendEvents holds the box's row, and boxes are never
-- deleted.
CREATE TABLE events (
	box_id      text NOT NULL,
	incarnation int NOT NULL,
	seq         bigint NOT NULL,
	time        timestamptz NOT NULL,
	type        text NOT NULL,
	priority    int NOT NULL,
	data        bytea,
	received_at timestamptz NOT NULL,
	PRIMARY KEY (box_id, incarnation, seq)
);
CREATE INDEX events_box_time ON events (box_id, time);
CREATE INDEX events_box_type ON events (box_id, type, incarnation, seq);

CREATE TABLE users (
	name          text PRIMARY KEY,
	password_hash bytea,
	role          text NOT NULL,
	created_at    timestamptz NOT NULL,
	disabled      boolean NOT NULL
);

CREATE TABLE sessions (
	token_hash bytea PRIMARY KEY,
	user_name  text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE plans (
	box_id     text PRIMARY KEY REFERENCES boxes (id),
	broadcast  bytea NOT NULL,
	cameras    bytea NOT NULL,
	updated_at timestamptz NOT NULL,
	updated_by text NOT NULL
);

CREATE TABLE media (
	sha256      text PRIMARY KEY,
	name        text NOT NULL,
	format      text NOT NULL,
	size        bigint NOT NULL,
	duration_ms bigint NOT NULL,
	uploaded_by text NOT NULL,
	uploaded_at timestamptz NOT NULL
);

CREATE TABLE households (
	village text NOT NULL REFERENCES boxes (id),
	id      text NOT NULL,
	doc     bytea NOT NULL,
	PRIMARY KEY (village, id)
);

CREATE TABLE persons (
	village   text NOT NULL REFERENCES boxes (id),
	id        text NOT NULL,
	household text NOT NULL,
	doc       bytea NOT NULL,
	PRIMARY KEY (village, id)
);

CREATE TABLE categories (
	village text PRIMARY KEY REFERENCES boxes (id),
	doc     bytea NOT NULL
);

CREATE TABLE entries (
	id           bigint PRIMARY KEY,
	village      text NOT NULL,
	status       text NOT NULL,
	subject_kind text NOT NULL,
	subject_id   text NOT NULL,
	points       int NOT NULL,
	doc          bytea NOT NULL
);
CREATE INDEX entries_village ON entries (village, status);

CREATE TABLE audit (
	seq      bigint PRIMARY KEY,
	village  text NOT NULL,
	entry_id bigint NOT NULL,
	doc      bytea NOT NULL
);
CREATE INDEX audit_village ON audit (village, seq);
CREATE INDEX audit_entry ON audit (entry_id, seq);

CREATE TABLE holds (
	id       bigint PRIMARY KEY,
	village  text NOT NULL,
	entry_id bigint NOT NULL,
	doc      bytea NOT NULL
);
CREATE INDEX holds_entry ON holds (entry_id, id);

CREATE TABLE goods (
	village text NOT NULL REFERENCES boxes (id),
	id      text NOT NULL,
	doc     bytea NOT NULL,
	PRIMARY KEY (village, id)
);

CREATE TABLE redemptions (
	id        bigint PRIMARY KEY,
	village   text NOT NULL,
	household text NOT NULL,
	key       text NOT NULL,
	doc       bytea NOT NULL,
	UNIQUE (village, key)
);
CREATE INDEX redemptions_household ON redemptions (village, household);

CREATE TABLE links (
	token_hash bytea PRIMARY KEY,
	village    text NOT NULL,
	household  text NOT NULL,
	doc        bytea NOT NULL
);
CREATE INDEX links_household ON links (village, household);

CREATE TABLE chats (
	village text PRIMARY KEY REFERENCES boxes (id),
	doc     bytea NOT NULL
);

CREATE TABLE deliveries (
	id      bigint PRIMARY KEY,
	village text NOT NULL,
	status  text NOT NULL,
	doc     bytea NOT NULL
);

-- created_ns: the first delivery's CreatedAt in Unix nanoseconds, as
-- given, so DeleteImages compares what GetImage returns.
CREATE TABLE images (
	id         text PRIMARY KEY,
	created_ns bigint NOT NULL,
	bytes      bytea NOT NULL
);

CREATE TABLE alert_settings (
	id  int PRIMARY KEY CHECK (id = 1),
	doc bytea NOT NULL
);

CREATE TABLE incidents (
	key text PRIMARY KEY,
	doc bytea NOT NULL
);

CREATE TABLE alerts (
	seq     bigint PRIMARY KEY,
	pending boolean NOT NULL,
	doc     bytea NOT NULL
);
CREATE INDEX alerts_pending ON alerts (seq) WHERE pending;
