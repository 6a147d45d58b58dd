-- The PostgreSQL schema: the same tables as the SQLite one (../0001_init.sql
-- explains each), in PostgreSQL's types.
CREATE TABLE entries (
    idx      bigint PRIMARY KEY,
    data     bytea  NOT NULL,
    drv      text   NOT NULL,
    output   text   NOT NULL,
    path     text   NOT NULL,
    nar_hash bytea  NOT NULL,
    builder  text   NOT NULL,
    time     text   NOT NULL
);
CREATE INDEX entries_path ON entries (path, idx);
CREATE INDEX entries_drv ON entries (drv, idx);
CREATE INDEX entries_builder ON entries (builder, idx);

CREATE TABLE tiles (
    level integer NOT NULL,
    idx   bigint  NOT NULL,
    data  bytea   NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE checkpoints (
    size bigint PRIMARY KEY,
    note bytea  NOT NULL
);

CREATE TABLE disputes (
    path     text   PRIMARY KEY,
    last_idx bigint NOT NULL
);
CREATE INDEX disputes_last ON disputes (last_idx);

CREATE TABLE builders (
    name       text PRIMARY KEY,
    public_key text NOT NULL
);
