-- The log: every accepted entry, in order. `data` is the Merkle leaf (the
-- entry's canonical bytes); the other columns are copies for queries.
CREATE TABLE entries (
    idx      INTEGER PRIMARY KEY,
    data     BLOB    NOT NULL,
    drv      TEXT    NOT NULL,
    output   TEXT    NOT NULL,
    path     TEXT    NOT NULL,
    nar_hash BLOB    NOT NULL,
    builder  TEXT    NOT NULL,
    time     TEXT    NOT NULL
);
CREATE INDEX entries_path ON entries (path, idx);
CREATE INDEX entries_drv ON entries (drv, idx);
CREATE INDEX entries_builder ON entries (builder, idx);

-- C2SP tiles of hashes: level, index and the hashes (32 bytes each); a
-- partial tile grows in place.
CREATE TABLE tiles (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    data  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Every checkpoint the log signed, one per sequencing batch.
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY,
    note BLOB    NOT NULL
);

-- Output paths with more than one NAR hash, and the last entry about them.
CREATE TABLE disputes (
    path     TEXT    PRIMARY KEY,
    last_idx INTEGER NOT NULL
);
CREATE INDEX disputes_last ON disputes (last_idx);

-- Registered builder keys.
CREATE TABLE builders (
    name       TEXT PRIMARY KEY,
    public_key TEXT NOT NULL
);
