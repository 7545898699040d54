-- Version 3: the county's townships, and the township each box, user and
-- claim belongs to ('' = directly under the county; a claim's is in its
-- doc).

CREATE TABLE townships (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	created_at timestamptz NOT NULL
);

ALTER TABLE boxes ADD COLUMN township text NOT NULL DEFAULT '';
CREATE INDEX boxes_township ON boxes (township);

ALTER TABLE users ADD COLUMN township text NOT NULL DEFAULT '';
