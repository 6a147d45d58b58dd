-- Per output path, what its verdict and the UI's counts need, kept up to
-- date by every insert (an upsert), so a batch never reads entries back.
-- `nar_hash` and `builder` are the first report's; `state` has bit 1 set
-- once another hash was reported, bit 0 once another builder reported;
-- `prev` is the state before the last report (to count verdict changes).
-- `name_lc` is the ASCII-lowercased name after the hash part, for search.
CREATE TABLE outputs (
    path     TEXT    PRIMARY KEY,
    drv      TEXT    NOT NULL,
    output   TEXT    NOT NULL,
    name_lc  TEXT    NOT NULL,
    nar_hash BLOB    NOT NULL,
    builder  TEXT    NOT NULL,
    state    INTEGER NOT NULL,
    prev     INTEGER NOT NULL,
    reports  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX outputs_name ON outputs (name_lc);

-- Counts of output paths by verdict; one row, updated once per batch.
CREATE TABLE stats (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    outputs    INTEGER NOT NULL,
    reproduced INTEGER NOT NULL,
    disputed   INTEGER NOT NULL
);

-- Existing logs: one row per output path from its reports. The base name is
-- what follows the last `/` (rtrim drops every character but `/` from the
-- right), the name what follows the 32-character hash part and its `-`.
INSERT INTO outputs (path, drv, output, name_lc, nar_hash, builder, state, prev, reports)
SELECT g.path, f.drv, f.output,
       lower(substr(substr(f.path, length(rtrim(f.path, replace(f.path, '/', ''))) + 1), 34)),
       f.nar_hash, f.builder, g.state, g.state, g.reports
FROM (SELECT path, MIN(idx) AS first, COUNT(*) AS reports,
             (COUNT(DISTINCT nar_hash) > 1) * 2 + (COUNT(DISTINCT builder) > 1) AS state
      FROM entries GROUP BY path) g
JOIN entries f ON f.idx = g.first;

INSERT INTO stats (id, outputs, reproduced, disputed)
SELECT 1, COUNT(*), COALESCE(SUM(state = 1), 0), COALESCE(SUM(state >= 2), 0) FROM outputs;
