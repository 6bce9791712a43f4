//! Rollup counters packed into one BLOB per row: thirteen little-endian i64 in a fixed order
//! (rows written before schema 4 hold the first eleven; the estimated counts read as zero).
//! A year-long report reads hundreds of thousands of rollup rows, and SQLite charges per column
//! returned; one BLOB instead of eleven integer columns makes such reports several times faster.
//! `tollgate_add_totals(a, b)` sums two blobs inside SQL, so upserts stay single statements.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use tollgate_core::{Nanos, RollupTotals};

const FIELDS: usize = 13;
pub(crate) const TOTALS_BYTES: usize = FIELDS * 8;
/// Before schema 4: no estimated counts.
const OLD_TOTALS_BYTES: usize = 11 * 8;

fn fields(totals: &RollupTotals) -> [i64; FIELDS] {
    [
        totals.invocations as i64,
        totals.errors as i64,
        totals.unpriced as i64,
        totals.input_tokens as i64,
        totals.output_tokens as i64,
        totals.cache_read_tokens as i64,
        totals.cache_write_tokens as i64,
        totals.images as i64,
        totals.input_cost.0,
        totals.output_cost.0,
        totals.latency_ms_sum as i64,
        totals.estimated_calls as i64,
        totals.estimated_tokens as i64,
    ]
}

pub(crate) fn encode(totals: &RollupTotals) -> [u8; TOTALS_BYTES] {
    let mut bytes = [0u8; TOTALS_BYTES];
    for (chunk, value) in bytes.chunks_exact_mut(8).zip(fields(totals)) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// `None` when the blob is not a totals blob.
pub(crate) fn decode(bytes: &[u8]) -> Option<RollupTotals> {
    if bytes.len() != TOTALS_BYTES && bytes.len() != OLD_TOTALS_BYTES {
        return None;
    }
    let mut values = [0i64; FIELDS];
    for (value, chunk) in values.iter_mut().zip(bytes.chunks_exact(8)) {
        *value = i64::from_le_bytes(chunk.try_into().ok()?);
    }
    let count = |index: usize| values[index] as u64;
    Some(RollupTotals {
        invocations: count(0),
        errors: count(1),
        unpriced: count(2),
        input_tokens: count(3),
        output_tokens: count(4),
        cache_read_tokens: count(5),
        cache_write_tokens: count(6),
        images: count(7),
        input_cost: Nanos(values[8]),
        output_cost: Nanos(values[9]),
        latency_ms_sum: count(10),
        estimated_calls: count(11),
        estimated_tokens: count(12),
    })
}

/// Registers `tollgate_add_totals(a, b)` on a connection.
pub(crate) fn register(connection: &Connection) -> rusqlite::Result<()> {
    connection.create_scalar_function(
        "tollgate_add_totals",
        2,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |context| {
            let read = |index: usize| -> rusqlite::Result<RollupTotals> {
                let bytes = context.get_raw(index).as_blob()?;
                decode(bytes).ok_or_else(|| {
                    rusqlite::Error::UserFunctionError(
                        "a rollup totals blob has the wrong size".into(),
                    )
                })
            };
            let mut sum = read(0)?;
            sum.add(&read(1)?);
            Ok(encode(&sum).to_vec())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_sum_in_sql() {
        let totals = RollupTotals {
            invocations: 3,
            input_tokens: 1_000_000,
            input_cost: Nanos(-5),
            latency_ms_sum: 9,
            ..RollupTotals::default()
        };
        assert_eq!(decode(&encode(&totals)), Some(totals));
        assert_eq!(decode(&[0u8; 7]), None);
        assert_eq!(
            decode(&encode(&totals)[..OLD_TOTALS_BYTES]),
            Some(totals),
            "a row written before the estimated counts"
        );
        let connection = Connection::open_in_memory().unwrap();
        register(&connection).unwrap();
        let sum: Vec<u8> = connection
            .query_row(
                "SELECT tollgate_add_totals(?1, ?2)",
                [encode(&totals).to_vec(), encode(&totals).to_vec()],
                |row| row.get(0),
            )
            .unwrap();
        let sum = decode(&sum).unwrap();
        assert_eq!((sum.invocations, sum.input_cost), (6, Nanos(-10)));
        assert!(
            connection
                .query_row("SELECT tollgate_add_totals(x'00', x'00')", [], |row| row
                    .get::<_, Vec<u8>>(0))
                .is_err()
        );
    }
}
