//! The `names` dictionary: team, key, model, provider and region names stored once and referred to
//! by integer id from the ledger and rollups. Also the day numbers those tables use.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use rusqlite::{Connection, OptionalExtension, params};

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Team,
    Key,
    Model,
    Provider,
    Region,
}

impl NameKind {
    fn as_str(self) -> &'static str {
        match self {
            NameKind::Team => "team",
            NameKind::Key => "key",
            NameKind::Model => "model",
            NameKind::Provider => "provider",
            NameKind::Region => "region",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Name → id, remembered across batches; cleared when a transaction that added names rolls back.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    maps: [HashMap<String, i64>; 5],
}

impl NameCache {
    /// The id of `name`, adding it to the dictionary (inside the caller's transaction) if new.
    pub(crate) fn id(
        &mut self,
        connection: &Connection,
        kind: NameKind,
        name: &str,
    ) -> rusqlite::Result<i64> {
        if let Some(&id) = self.maps[kind.index()].get(name) {
            return Ok(id);
        }
        connection
            .prepare_cached("INSERT INTO names (kind, name) VALUES (?1, ?2) ON CONFLICT (kind, name) DO NOTHING")?
            .execute(params![kind.as_str(), name])?;
        let id = connection
            .prepare_cached("SELECT id FROM names WHERE kind = ?1 AND name = ?2")?
            .query_row(params![kind.as_str(), name], |row| row.get(0))?;
        self.maps[kind.index()].insert(name.to_owned(), id);
        Ok(id)
    }

    pub(crate) fn clear(&mut self) {
        for map in &mut self.maps {
            map.clear();
        }
    }
}

/// The id of an existing name, without adding it.
pub(crate) fn find_id(
    connection: &Connection,
    kind: NameKind,
    name: &str,
) -> rusqlite::Result<Option<i64>> {
    connection
        .prepare_cached("SELECT id FROM names WHERE kind = ?1 AND name = ?2")?
        .query_row(params![kind.as_str(), name], |row| row.get(0))
        .optional()
}

/// Every id → name, for turning query results back into names.
pub(crate) fn all_names(connection: &Connection) -> rusqlite::Result<HashMap<i64, String>> {
    let mut statement = connection.prepare_cached("SELECT id, name FROM names")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// Days since 1970-01-01.
pub(crate) fn day_number(date: NaiveDate) -> i64 {
    (date - EPOCH).num_days()
}

pub(crate) fn date_of(day: i64) -> NaiveDate {
    if day >= 0 {
        EPOCH
            .checked_add_days(Days::new(day as u64))
            .unwrap_or(NaiveDate::MAX)
    } else {
        EPOCH
            .checked_sub_days(Days::new(day.unsigned_abs()))
            .unwrap_or(NaiveDate::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        for text in ["1970-01-01", "2026-11-26", "1969-12-31", "2400-02-29"] {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
            assert_eq!(date_of(day_number(date)), date);
        }
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
    }
}
