//! Versioned migrations. `application_id` marks the file as Tollgate's; `user_version` is the schema
//! version. Opening checks both before changing anything.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Result, StoreError};

/// "TGAT" — written into the `SQLite` header so other tools' databases are never touched.
pub const APPLICATION_ID: i64 = 0x5447_4154;

const MIGRATIONS: &[&str] = &[
    // 1: the whole first schema.
    r"
CREATE TABLE tenants (
    team_id        TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    cost_center    TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);

-- Limits of a tenant or of one key; a missing row or NULL column is 'no limit'.
CREATE TABLE limits (
    scope               TEXT NOT NULL CHECK (scope IN ('tenant', 'key')),
    subject             TEXT NOT NULL,
    rate_requests       INTEGER,
    rate_unit           TEXT,
    rate_burst          INTEGER,
    quota_requests      INTEGER,
    quota_period        TEXT,
    tokens_per_minute   INTEGER,
    budget_nanos        INTEGER,
    budget_enforcement  TEXT,
    PRIMARY KEY (scope, subject)
);

CREATE TABLE allowed_models (
    team_id  TEXT NOT NULL REFERENCES tenants (team_id) ON DELETE CASCADE,
    pattern  TEXT NOT NULL,
    PRIMARY KEY (team_id, pattern)
);

CREATE TABLE api_keys (
    key_id                   TEXT PRIMARY KEY,
    team_id                  TEXT NOT NULL REFERENCES tenants (team_id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    display_prefix           TEXT NOT NULL,
    hash                     TEXT NOT NULL UNIQUE,
    status                   TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
    created_at_ms            INTEGER NOT NULL,
    expires_at_ms            INTEGER,
    previous_hash            TEXT,
    previous_valid_until_ms  INTEGER,
    last_used_at_ms          INTEGER
);
CREATE INDEX api_keys_team ON api_keys (team_id);
CREATE INDEX api_keys_previous_hash ON api_keys (previous_hash) WHERE previous_hash IS NOT NULL;

CREATE TABLE price_book_versions (
    version        INTEGER PRIMARY KEY,
    created_at_ms  INTEGER NOT NULL,
    source         TEXT NOT NULL,
    note           TEXT NOT NULL DEFAULT ''
);

-- Every price ever set; for one (model, region, effective_from) the highest version is in force.
CREATE TABLE prices (
    model_id            TEXT NOT NULL,
    region              TEXT NOT NULL,
    effective_from      TEXT NOT NULL,
    version             INTEGER NOT NULL REFERENCES price_book_versions (version),
    kind                TEXT NOT NULL,
    input_per_1k        INTEGER NOT NULL,
    output_per_1k       INTEGER NOT NULL,
    cache_read_per_1k   INTEGER,
    cache_write_per_1k  INTEGER,
    per_second          INTEGER,
    images_json         TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (model_id, region, effective_from, version)
);

-- Team ids, key ids, model ids, providers and regions, stored once and referred to by number
-- from the ledger and rollups: rows stay small, so ingest and year-long reports stay fast.
CREATE TABLE names (
    id    INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL CHECK (kind IN ('team', 'key', 'model', 'provider', 'region')),
    name  TEXT NOT NULL,
    UNIQUE (kind, name)
);

-- Append-only: one row per model call. `day` is the local day (days since 1970-01-01 in the
-- configured zone); money columns are nano-dollars.
CREATE TABLE usage_ledger (
    id                  INTEGER PRIMARY KEY,
    at_ms               INTEGER NOT NULL,
    day                 INTEGER NOT NULL,
    request_id          TEXT NOT NULL,
    team                INTEGER NOT NULL REFERENCES names (id),
    key                 INTEGER NOT NULL REFERENCES names (id),
    model               INTEGER NOT NULL REFERENCES names (id),
    price_model         INTEGER NOT NULL REFERENCES names (id),
    provider            INTEGER NOT NULL REFERENCES names (id),
    region              INTEGER NOT NULL REFERENCES names (id),
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    images              INTEGER NOT NULL,
    image_width         INTEGER NOT NULL,
    image_height        INTEGER NOT NULL,
    image_steps         INTEGER NOT NULL,
    image_quality       TEXT,
    endpoint_ms         INTEGER NOT NULL,
    latency_ms          INTEGER NOT NULL,
    ttft_ms             INTEGER,
    status              INTEGER NOT NULL,
    cost_input          INTEGER NOT NULL,
    cost_output         INTEGER NOT NULL,
    cost_cache_read     INTEGER NOT NULL,
    cost_cache_write    INTEGER NOT NULL,
    cost_image          INTEGER NOT NULL,
    cost_endpoint       INTEGER NOT NULL,
    priced              INTEGER NOT NULL
);
CREATE INDEX usage_ledger_day ON usage_ledger (day);

-- Daily sums by (day, tenant, model, key) at grain 0, and by (day, tenant, model) over all keys at
-- grain 1 (with key 0), so reports that do not split by key read half the rows. Origin 0 rows are
-- kept from the ledger in the same transaction as its events; origin 1 rows come from imported
-- reference reports. `totals` packs
-- the counters (calls, errors, unpriced calls, input, output, cache-read and cache-write tokens,
-- images, input cost, output cost, latency sum) as eleven little-endian i64: see rollup_codec.rs.
CREATE TABLE daily_rollups (
    grain   INTEGER NOT NULL CHECK (grain IN (0, 1)),
    day     INTEGER NOT NULL,
    team    INTEGER NOT NULL,
    model   INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    origin  INTEGER NOT NULL CHECK (origin IN (0, 1)),
    totals  BLOB NOT NULL CHECK (length(totals) = 88),
    PRIMARY KEY (grain, day, team, model, key, origin)
) WITHOUT ROWID;
CREATE INDEX daily_rollups_team_day ON daily_rollups (grain, team, day);

-- The same, readable: names and ISO dates instead of numbers.
CREATE VIEW usage_ledger_named AS
SELECT l.id, l.at_ms, date(l.day * 86400, 'unixepoch') AS day, l.request_id, t.name AS team_id, k.name AS key_id,
       m.name AS model_id, pm.name AS price_model_id, p.name AS provider, r.name AS region, l.input_tokens, l.output_tokens,
       l.cache_read_tokens, l.cache_write_tokens, l.images, l.image_width, l.image_height, l.image_steps,
       l.image_quality, l.endpoint_ms, l.latency_ms, l.ttft_ms, l.status, l.cost_input, l.cost_output,
       l.cost_cache_read, l.cost_cache_write, l.cost_image, l.cost_endpoint, l.priced
FROM usage_ledger l JOIN names t ON t.id = l.team JOIN names k ON k.id = l.key JOIN names m ON m.id = l.model
     JOIN names pm ON pm.id = l.price_model
     JOIN names p ON p.id = l.provider JOIN names r ON r.id = l.region;

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    before_json  TEXT,
    after_json   TEXT
);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
",
    // 2: report objects synced from an AWS workspace's bucket, to fetch only what changed.
    r"
CREATE TABLE synced_objects (
    source            TEXT NOT NULL,
    key               TEXT NOT NULL,
    etag              TEXT NOT NULL,
    last_modified_ms  INTEGER NOT NULL,
    rows              INTEGER NOT NULL,
    bad_rows          INTEGER NOT NULL,
    synced_at_ms      INTEGER NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
",
    // 3: reference-report sums by the caller's own `team_id` text (the label), beside the rollups
    // by tenant, which an AWS workspace attributes by API key.
    r"
CREATE TABLE label_rollups (
    day     INTEGER NOT NULL,
    team    INTEGER NOT NULL,
    label   INTEGER NOT NULL,
    model   INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    totals  BLOB NOT NULL CHECK (length(totals) = 88),
    PRIMARY KEY (day, team, label, model, key)
) WITHOUT ROWID;
",
    // 4: calls whose upstream reported no usage are flagged `estimated` (Tollgate counted their
    // tokens), and the rollups count them apart: their blobs grow from 11 to 13 counters. Rows
    // already written keep 11; the codec reads both.
    r"
ALTER TABLE usage_ledger ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;

CREATE TABLE daily_rollups_4 (
    grain   INTEGER NOT NULL CHECK (grain IN (0, 1)),
    day     INTEGER NOT NULL,
    team    INTEGER NOT NULL,
    model   INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    origin  INTEGER NOT NULL CHECK (origin IN (0, 1)),
    totals  BLOB NOT NULL CHECK (length(totals) IN (88, 104)),
    PRIMARY KEY (grain, day, team, model, key, origin)
) WITHOUT ROWID;
INSERT INTO daily_rollups_4 SELECT grain, day, team, model, key, origin, totals FROM daily_rollups;
DROP TABLE daily_rollups;
ALTER TABLE daily_rollups_4 RENAME TO daily_rollups;
CREATE INDEX daily_rollups_team_day ON daily_rollups (grain, team, day);

CREATE TABLE label_rollups_4 (
    day     INTEGER NOT NULL,
    team    INTEGER NOT NULL,
    label   INTEGER NOT NULL,
    model   INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    totals  BLOB NOT NULL CHECK (length(totals) IN (88, 104)),
    PRIMARY KEY (day, team, label, model, key)
) WITHOUT ROWID;
INSERT INTO label_rollups_4 SELECT day, team, label, model, key, totals FROM label_rollups;
DROP TABLE label_rollups;
ALTER TABLE label_rollups_4 RENAME TO label_rollups;

DROP VIEW usage_ledger_named;
CREATE VIEW usage_ledger_named AS
SELECT l.id, l.at_ms, date(l.day * 86400, 'unixepoch') AS day, l.request_id, t.name AS team_id, k.name AS key_id,
       m.name AS model_id, pm.name AS price_model_id, p.name AS provider, r.name AS region, l.input_tokens, l.output_tokens,
       l.cache_read_tokens, l.cache_write_tokens, l.images, l.image_width, l.image_height, l.image_steps,
       l.image_quality, l.endpoint_ms, l.latency_ms, l.ttft_ms, l.status, l.cost_input, l.cost_output,
       l.cost_cache_read, l.cost_cache_write, l.cost_image, l.cost_endpoint, l.priced, l.estimated
FROM usage_ledger l JOIN names t ON t.id = l.team JOIN names k ON k.id = l.key JOIN names m ON m.id = l.model
     JOIN names pm ON pm.id = l.price_model
     JOIN names p ON p.id = l.provider JOIN names r ON r.id = l.region;
",
    // 5: records the database refused (a batch that cannot commit is split until the bad record
    // is alone), kept whole with the reason instead of jamming the writer.
    r"
CREATE TABLE ledger_quarantine (
    id                 INTEGER PRIMARY KEY,
    at_ms              INTEGER NOT NULL,
    request_id         TEXT NOT NULL,
    record             TEXT NOT NULL,
    reason             TEXT NOT NULL,
    quarantined_at_ms  INTEGER NOT NULL
);
",
    // 6: admin tokens with roles (admin, viewer of cost centers, tester of teams), stored as the
    // SHA-256 of their secret like API keys.
    r"
CREATE TABLE admin_tokens (
    token_id        TEXT PRIMARY KEY,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'viewer', 'tester')),
    label           TEXT NOT NULL,
    cost_centers    TEXT NOT NULL,
    teams           TEXT NOT NULL,
    display_prefix  TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER,
    revoked_at_ms   INTEGER
);
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens `path`, refusing other applications' databases and newer schemas before any write, then
/// applies pending migrations. Returns the connection and whether the database was just created.
pub fn open_checked(path: &Path) -> Result<(Connection, bool)> {
    let is_empty = std::fs::metadata(path).map_or(true, |meta| meta.len() == 0);
    if !is_empty {
        // Look first through a read-only connection, so a foreign file is never touched.
        let probe = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| StoreError::Open {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        let application_id: i64 = probe
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(|_| StoreError::NotSqlite {
                path: path.to_owned(),
            })?;
        let version: i64 = probe.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if application_id != APPLICATION_ID {
            return Err(StoreError::NotTollgate {
                path: path.to_owned(),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
    }
    let mut connection = Connection::open(path).map_err(|error| StoreError::Open {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    configure(&connection)?;
    let created = is_empty;
    migrate(&mut connection)?;
    Ok((connection, created))
}

/// Per-connection settings: WAL so readers never block the ledger writer, NORMAL sync (a committed
/// transaction survives a process crash; only power loss may undo the last ones), foreign keys.
pub fn configure(connection: &Connection) -> Result<()> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // A 64 MiB page cache and memory-mapped reads: year-long reports and rollup rebuilds touch
    // hundreds of megabytes, and the default 2 MiB cache turns that into disk reads.
    connection.pragma_update(None, "cache_size", -65_536)?;
    connection.pragma_update(None, "mmap_size", 1_i64 << 30)?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    crate::rollup_codec::register(connection)?;
    Ok(())
}

fn migrate(connection: &mut Connection) -> Result<()> {
    let current: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current >= SCHEMA_VERSION {
        return Ok(());
    }
    let transaction = connection.transaction()?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
    transaction.commit()?;
    Ok(())
}

/// The schema version of an open database.
pub fn schema_version(connection: &Connection) -> Result<i64> {
    Ok(connection.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup_codec;
    use tollgate_core::{Nanos, RollupTotals};

    /// A database as schema 3 left it, with one call and its 11-counter rollup, reads the same
    /// after migration 4 and takes estimated calls beside it.
    #[test]
    fn schema_4_keeps_old_rollups_and_counts_estimated_calls_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        {
            let connection = Connection::open(&path).unwrap();
            for (index, sql) in MIGRATIONS.iter().take(3).enumerate() {
                connection.execute_batch(sql).unwrap();
                connection
                    .pragma_update(None, "user_version", index as i64 + 1)
                    .unwrap();
            }
            connection
                .pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            connection
                .execute_batch(
                    "INSERT INTO names (id, kind, name) VALUES (1, 'team', 'alpha'), (2, 'key', 'k'), (3, 'model', 'm');",
                )
                .unwrap();
            let old = RollupTotals {
                invocations: 1,
                input_tokens: 10,
                input_cost: Nanos(7),
                ..RollupTotals::default()
            };
            let bytes = rollup_codec::encode(&old)[..88].to_vec();
            connection
                .execute(
                    "INSERT INTO daily_rollups (grain, day, team, model, key, origin, totals) VALUES (0, 20000, 1, 3, 2, 0, ?1)",
                    [bytes],
                )
                .unwrap();
        }
        let (connection, created) = open_checked(&path).unwrap();
        assert!(!created);
        assert_eq!(schema_version(&connection).unwrap(), SCHEMA_VERSION);
        let estimated = RollupTotals {
            invocations: 1,
            input_tokens: 4,
            estimated_calls: 1,
            estimated_tokens: 4,
            ..RollupTotals::default()
        };
        connection
            .execute(
                "UPDATE daily_rollups SET totals = tollgate_add_totals(totals, ?1)",
                [rollup_codec::encode(&estimated).to_vec()],
            )
            .unwrap();
        let bytes: Vec<u8> = connection
            .query_row("SELECT totals FROM daily_rollups", [], |row| row.get(0))
            .unwrap();
        let totals = rollup_codec::decode(&bytes).unwrap();
        assert_eq!(
            (
                totals.invocations,
                totals.input_tokens,
                totals.input_cost,
                totals.estimated_calls,
                totals.estimated_tokens
            ),
            (2, 14, Nanos(7), 1, 4)
        );
        let column: i64 = connection
            .query_row(
                "SELECT count(*) FROM pragma_table_info('usage_ledger') WHERE name = 'estimated'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(column, 1);
    }
}
