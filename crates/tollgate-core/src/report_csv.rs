//! Cost reports as CSV in the reference deployment's columns, plus `cost_center`. The reader also
//! takes the reference's daily `succeed/YYYY-MM-DD.csv` files as pandas writes them: the group-by
//! index columns first, token counts as floats (`2448.0`), costs with float noise, and a `date`
//! column that pandas' `sum()` concatenated (`26-11-202626-11-2026`).

use std::io::{Read, Write};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::Nanos;

/// The columns written, in order.
pub const REPORT_COLUMNS: [&str; 10] = [
    "team_id",
    "api_key",
    "model_id",
    "input_tokens",
    "output_tokens",
    "invocations",
    "input_cost",
    "output_cost",
    "date",
    "cost_center",
];

/// One report line: a team's use of a model through a key on a date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    pub team_id: String,
    pub api_key: String,
    pub model_id: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub invocations: u64,
    pub input_cost: Nanos,
    pub output_cost: Nanos,
    pub date: Option<NaiveDate>,
    pub cost_center: String,
}

/// A row that could not be read, by its line in the file (1-based, the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    pub message: String,
}

/// What a reader got from a file: the good rows, and each bad one with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    pub rows: Vec<ReportRow>,
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("cannot read the CSV header: {0}")]
    Header(String),
    #[error("the CSV has no '{0}' column (columns found: {1})")]
    MissingColumn(&'static str, String),
    #[error("cannot write CSV: {0}")]
    Write(String),
}

/// Writes rows with a header; with `totals`, a last row `TOTAL` sums tokens, calls and costs.
pub fn write_report<W: Write>(writer: W, rows: &[ReportRow], totals: bool) -> Result<(), CsvError> {
    let mut csv = csv::Writer::from_writer(writer);
    let fail = |error: csv::Error| CsvError::Write(error.to_string());
    csv.write_record(REPORT_COLUMNS).map_err(fail)?;
    for row in rows {
        write_row(&mut csv, row).map_err(fail)?;
    }
    if totals {
        let mut sum = ReportRow {
            team_id: "TOTAL".to_owned(),
            ..ReportRow::default()
        };
        for row in rows {
            sum.input_tokens += row.input_tokens;
            sum.output_tokens += row.output_tokens;
            sum.invocations += row.invocations;
            sum.input_cost += row.input_cost;
            sum.output_cost += row.output_cost;
        }
        write_row(&mut csv, &sum).map_err(fail)?;
    }
    csv.flush()
        .map_err(|error| CsvError::Write(error.to_string()))
}

fn write_row<W: Write>(csv: &mut csv::Writer<W>, row: &ReportRow) -> Result<(), csv::Error> {
    csv.write_record([
        row.team_id.as_str(),
        row.api_key.as_str(),
        row.model_id.as_str(),
        &row.input_tokens.to_string(),
        &row.output_tokens.to_string(),
        &row.invocations.to_string(),
        &row.input_cost.to_string(),
        &row.output_cost.to_string(),
        &row.date.map(|date| date.to_string()).unwrap_or_default(),
        row.cost_center.as_str(),
    ])
}

/// Column positions found in a header.
struct Columns {
    team_id: usize,
    model_id: usize,
    input_tokens: usize,
    output_tokens: usize,
    input_cost: usize,
    output_cost: usize,
    api_key: Option<usize>,
    invocations: Option<usize>,
    date: Option<usize>,
    cost_center: Option<usize>,
}

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Columns, CsvError> {
        let names: Vec<String> = header
            .iter()
            .map(|name| {
                name.trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase()
            })
            .collect();
        let position = |name: &str| names.iter().position(|found| found == name);
        let required = |name: &'static str| {
            position(name).ok_or_else(|| CsvError::MissingColumn(name, names.join(",")))
        };
        Ok(Columns {
            team_id: required("team_id")?,
            model_id: required("model_id")?,
            input_tokens: required("input_tokens")?,
            output_tokens: required("output_tokens")?,
            input_cost: required("input_cost")?,
            output_cost: required("output_cost")?,
            api_key: position("api_key"),
            invocations: position("invocations"),
            date: position("date"),
            cost_center: position("cost_center"),
        })
    }
}

/// Reads a report. `file_date` is the date the file is for (from a `YYYY-MM-DD.csv` name), used
/// when a row has no readable date of its own.
pub fn read_report<R: Read>(
    reader: R,
    file_date: Option<NaiveDate>,
) -> Result<ReadReport, CsvError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let header = csv
        .headers()
        .map_err(|error| CsvError::Header(error.to_string()))?
        .clone();
    let columns = Columns::find(&header)?;
    let mut report = ReadReport::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line() + 1;
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if record.iter().all(|field| field.trim().is_empty()) {
                    continue;
                }
                match parse_row(&record, &columns, file_date) {
                    Ok(row) => report.rows.push(row),
                    Err(message) => report.problems.push(RowProblem {
                        line: record.position().map_or(line, csv::Position::line),
                        message,
                    }),
                }
            }
            Err(error) => {
                let line = error.position().map_or(line, csv::Position::line);
                report.problems.push(RowProblem {
                    line,
                    message: error.to_string(),
                });
                if !matches!(
                    error.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                ) {
                    break;
                }
            }
        }
    }
    Ok(report)
}

fn parse_row(
    record: &csv::StringRecord,
    columns: &Columns,
    file_date: Option<NaiveDate>,
) -> Result<ReportRow, String> {
    // Rows may carry trailing columns we do not read, but none may stop short of one we need.
    let needed = columns.highest_index() + 1;
    if record.len() < needed {
        return Err(format!(
            "has {} fields where {needed} are needed",
            record.len()
        ));
    }
    let text = |at: usize| record.get(at).unwrap_or("").trim();
    let team_id = text(columns.team_id);
    let model_id = text(columns.model_id);
    if team_id.is_empty() {
        return Err("team_id is empty".to_owned());
    }
    if model_id.is_empty() {
        return Err("model_id is empty".to_owned());
    }
    let date =
        match columns.date.map(text).filter(|value| !value.is_empty()) {
            Some(value) => Some(parse_report_date(value).ok_or_else(|| {
                format!("date '{value}' is not a date (YYYY-MM-DD or DD-MM-YYYY)")
            })?),
            None => file_date,
        };
    Ok(ReportRow {
        team_id: team_id.to_owned(),
        api_key: columns.api_key.map(text).unwrap_or_default().to_owned(),
        model_id: model_id.to_owned(),
        input_tokens: count("input_tokens", text(columns.input_tokens))?,
        output_tokens: count("output_tokens", text(columns.output_tokens))?,
        invocations: match columns.invocations {
            Some(at) => count("invocations", text(at))?,
            None => 1,
        },
        input_cost: cost("input_cost", text(columns.input_cost))?,
        output_cost: cost("output_cost", text(columns.output_cost))?,
        date,
        cost_center: columns.cost_center.map(text).unwrap_or_default().to_owned(),
    })
}

impl Columns {
    fn highest_index(&self) -> usize {
        let required = [
            self.team_id,
            self.model_id,
            self.input_tokens,
            self.output_tokens,
            self.input_cost,
            self.output_cost,
        ];
        let optional = [self.api_key, self.invocations, self.date, self.cost_center];
        required
            .into_iter()
            .chain(optional.into_iter().flatten())
            .max()
            .unwrap_or(0)
    }
}

/// A whole count, also as pandas writes it (`2448.0`); empty (pandas' NaN) is zero.
fn count(field: &str, value: &str) -> Result<u64, String> {
    if value.is_empty() || value.eq_ignore_ascii_case("nan") {
        return Ok(0);
    }
    let whole = match value.split_once('.') {
        Some((whole, fraction)) if fraction.bytes().all(|byte| byte == b'0') => whole,
        Some(_) => return Err(format!("{field} '{value}' is not a whole number")),
        None => value,
    };
    whole
        .parse::<u64>()
        .map_err(|_| format!("{field} '{value}' is not a whole number of at least 0"))
}

/// A cost in USD, rounded to the nano-dollar (the reference writes float sums).
fn cost(field: &str, value: &str) -> Result<Nanos, String> {
    if value.is_empty() || value.eq_ignore_ascii_case("nan") {
        return Ok(Nanos::ZERO);
    }
    match Nanos::parse_rounded(value) {
        Ok(amount) if amount.0 >= 0 => Ok(amount),
        Ok(_) => Err(format!("{field} '{value}' is negative")),
        Err(error) => Err(format!("{field}: {error}")),
    }
}

/// `YYYY-MM-DD` or the reference's `DD-MM-YYYY`, also when pandas repeated it (`26-11-202626-11-2026`).
pub fn parse_report_date(value: &str) -> Option<NaiveDate> {
    let first = if value.len() > 10 && value.len().is_multiple_of(10) {
        let head = value.get(..10)?;
        let repeated = value
            .as_bytes()
            .chunks(10)
            .all(|chunk| chunk == head.as_bytes());
        if !repeated {
            return None;
        }
        head
    } else {
        value
    };
    NaiveDate::parse_from_str(first, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(first, "%d-%m-%Y"))
        .ok()
}

/// The date in a reference report's file name (`succeed/2024-03-01.csv`).
pub fn date_from_file_name(name: &str) -> Option<NaiveDate> {
    let file = name.rsplit(['/', '\\']).next()?;
    let stem = file.strip_suffix(".csv").unwrap_or(file);
    NaiveDate::parse_from_str(stem, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn round_trip() {
        let rows = vec![
            ReportRow {
                team_id: "tenant1".into(),
                api_key: "key_abc".into(),
                model_id: "anthropic.claude-v2".into(),
                input_tokens: 2448,
                output_tokens: 4800,
                invocations: 24,
                input_cost: Nanos::parse_exact("0.019584").unwrap(),
                output_cost: Nanos::parse_exact("0.1152").unwrap(),
                date: Some(date("2026-11-25")),
                cost_center: "CC-100, \"R&D\"".into(),
            },
            ReportRow {
                team_id: "tenant2".into(),
                model_id: "amazon.titan-tg1-large".into(),
                invocations: 3,
                ..ReportRow::default()
            },
        ];
        let mut out = Vec::new();
        write_report(&mut out, &rows, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("team_id,api_key,model_id,input_tokens,output_tokens,invocations,input_cost,output_cost,date,cost_center\n"));
        let back = read_report(text.as_bytes(), None).unwrap();
        assert!(back.problems.is_empty(), "{:?}", back.problems);
        assert_eq!(back.rows, rows);
    }

    #[test]
    fn totals_row_sums_exactly() {
        let row = ReportRow {
            team_id: "t".into(),
            model_id: "m".into(),
            invocations: 1,
            input_cost: Nanos(1),
            output_cost: Nanos(2),
            ..ReportRow::default()
        };
        let mut out = Vec::new();
        write_report(&mut out, &[row.clone(), row], true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("TOTAL,,,0,0,2,0.000000002,0.000000004,"),
            "{text}"
        );
    }

    #[test]
    fn reads_a_pandas_succeed_file_and_reports_bad_rows() {
        let file = "\
api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations
k1,tenant1,amazon.titan-tg1-large,25-11-202625-11-2026,24000.0,2473.0,0.0072,0.0009892000000000001,1000
k1,tenant1,anthropic.claude-v2,25-11-2026,2448.0,4800.0,0.026980000000000003,0.15686,24
k2,tenant2,amazon.titan-tg1-large,25-11-2026,35000.0,many,0.0105,0.021,350
k2,,ai21.j2-grande-instruct,25-11-2026,4590.0,9000.0,0.05738,0.1125,45
k2,tenant2,ai21.j2-grande-instruct,25-11-2026,4590.5,9000.0,0.05738,0.1125,45
k2,tenant2,anthropic.claude-v2,25-11-2026,1080.0,4400.0,-0.0119,0.14379,20
k2,tenant2
k3,tenant3,stability.stable-diffusion-xl-v1,,,,0.0,0.036,1
";
        let report = read_report(file.as_bytes(), Some(date("2026-11-25"))).unwrap();
        assert_eq!(report.rows.len(), 3, "{:?}", report.problems);
        let lines: Vec<u64> = report.problems.iter().map(|problem| problem.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8]);
        assert!(report.problems[0].message.contains("output_tokens 'many'"));
        assert!(report.problems[1].message.contains("team_id is empty"));
        assert!(report.problems[3].message.contains("negative"));
        let first = &report.rows[0];
        assert_eq!(
            (
                first.api_key.as_str(),
                first.input_tokens,
                first.output_tokens,
                first.invocations
            ),
            ("k1", 24_000, 2_473, 1_000)
        );
        assert_eq!(first.output_cost, Nanos(989_200));
        assert_eq!(first.date, Some(date("2026-11-25")));
        assert_eq!(report.rows[1].input_cost, Nanos(26_980_000));
        let image = &report.rows[2];
        assert_eq!(
            (image.input_tokens, image.output_cost, image.date),
            (0, Nanos(36_000_000), Some(date("2026-11-25")))
        );
    }

    #[test]
    fn missing_columns_are_named() {
        let error = read_report("team_id,model_id\nt,m\n".as_bytes(), None).unwrap_err();
        assert!(
            error.to_string().contains("no 'input_tokens' column"),
            "{error}"
        );
    }

    #[test]
    fn dates_in_names_and_cells() {
        assert_eq!(
            date_from_file_name("succeed/2024-03-01.csv"),
            Some(date("2024-03-01"))
        );
        assert_eq!(date_from_file_name("notes.csv"), None);
        assert_eq!(parse_report_date("01-03-2024"), Some(date("2024-03-01")));
        assert_eq!(
            parse_report_date("01-03-202401-03-2024"),
            Some(date("2024-03-01"))
        );
        assert_eq!(parse_report_date("01-03-202402-03-2024"), None);
    }
}
