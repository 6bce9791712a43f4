//! Human tables and JSON for scripts.

use std::io::Write;

use serde::Serialize;

use crate::error::{CliError, Result};

/// A plain-text table: a header, rows, numeric columns right-aligned.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns whose name starts with `>` are right-aligned (the `>` is not shown).
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers
                .iter()
                .map(|header| header.trim_start_matches('>'))
                .collect(),
            right_aligned: headers
                .iter()
                .map(|header| header.starts_with('>'))
                .collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self
            .headers
            .iter()
            .map(|header| header.chars().count())
            .collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(index) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
            let mut parts = Vec::new();
            for (index, cell) in cells.enumerate() {
                let width = widths.get(index).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count());
                let right = self.right_aligned.get(index).copied().unwrap_or(false);
                parts.push(if right {
                    format!("{}{cell}", " ".repeat(pad))
                } else {
                    format!("{cell}{}", " ".repeat(pad))
                });
            }
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        line(&mut self.headers.iter().copied(), &mut out);
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str), &mut out);
        }
        out
    }
}

/// Writes text to standard output, treating a closed pipe (`| head`) as success.
pub fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::usage(format!("cannot write output: {error}")))
        }
        _ => Ok(()),
    }
}

pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| CliError::usage(format!("cannot encode JSON: {error}")))?;
    print(&format!("{text}\n"))
}

/// `2026-11-26 14:03` in UTC, or `-`.
pub fn timestamp(at_ms: Option<i64>) -> String {
    at_ms
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "-".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// Whether logs are JSON lines on stdout (`TOLLGATE_LOG_FORMAT=json`, as tollgate.service sets).
pub fn logs_as_json() -> bool {
    std::env::var("TOLLGATE_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"))
}

/// A status line of a long-running command (`serve`): plain on stderr, or a JSON log line.
pub fn announce(line: &str) {
    if logs_as_json() {
        tracing::info!(target: "tollgate", "{line}");
    } else {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut table = Table::new(&["NAME", ">COST"]);
        table.row(vec!["alpha".into(), "$1.00".into()]);
        table.row(vec!["b".into(), "$120.50".into()]);
        assert_eq!(
            table.render(),
            "NAME      COST\nalpha    $1.00\nb      $120.50\n"
        );
    }
}
