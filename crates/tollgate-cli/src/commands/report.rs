use std::io::Write;

use chrono::NaiveDate;
use serde_json::json;
use tollgate_core::report_csv::write_report;
use tollgate_core::{Period, RollupTotals};
use tollgate_store::{GroupBy, UsageQuery, UsageRow};

use super::Context;
use crate::args::{ReportArgs, ReportFormat};
use crate::error::{CliError, Result};
use crate::output::{Table, print};
use crate::parse::date;

/// Labels (the `team_id` header a reference deployment's callers send) exist only in an AWS
/// workspace's cache: elsewhere asking for them is a mistake worth naming, not an empty report.
pub fn refuse_labels(args: &ReportArgs) -> Result<()> {
    let by_label = args.group_by.iter().any(|dim| {
        dim.parse::<GroupBy>()
            .is_ok_and(|dim| dim == GroupBy::Label)
    });
    if by_label || args.label.is_some() {
        return Err(CliError::usage(
            "labels are the team_id header callers of a reference AWS deployment sent: they exist in AWS workspaces only (add --workspace NAME)",
        ));
    }
    Ok(())
}

pub fn run(context: &mut Context, args: &ReportArgs) -> Result<()> {
    let today = context.today();
    let from = args
        .from
        .as_deref()
        .map(date)
        .transpose()?
        .unwrap_or_else(|| Period::Month.start_date(today));
    let to = args.to.as_deref().map(date).transpose()?.unwrap_or(today);
    let group_by = args
        .group_by
        .iter()
        .filter(|dim| !dim.trim().is_empty())
        .map(|dim| dim.parse::<GroupBy>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut query = UsageQuery::new(from, to, group_by.clone());
    query.team_id.clone_from(&args.team_id);
    query.model_id.clone_from(&args.model);
    query.cost_center.clone_from(&args.cost_center);
    query.label.clone_from(&args.label);
    query.top = args.top;
    if args.top == Some(0) {
        return Err(CliError::usage("--top must be at least 1"));
    }
    let rows = context.store.usage(&query)?;
    let format = args.format.unwrap_or(if context.json {
        ReportFormat::Json
    } else if args
        .output
        .as_ref()
        .is_some_and(|path| path.extension().is_some_and(|ext| ext == "csv"))
    {
        ReportFormat::Csv
    } else {
        ReportFormat::Table
    });
    let mut totals = RollupTotals::default();
    for row in &rows {
        totals.add(&row.totals);
    }
    let body = match format {
        ReportFormat::Csv => {
            let mut buffer = Vec::new();
            let report_rows: Vec<_> = rows.iter().map(UsageRow::to_report_row).collect();
            write_report(&mut buffer, &report_rows, args.totals).map_err(CliError::usage)?;
            String::from_utf8_lossy(&buffer).into_owned()
        }
        ReportFormat::Json => {
            let value = json!({
                "from": from.to_string(),
                "to": to.to_string(),
                "time_zone": context.store.zone().to_string(),
                "group_by": group_by,
                "rows": rows,
                "totals": totals,
                "total_cost": totals.total_cost(),
            });
            format!(
                "{}\n",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            )
        }
        ReportFormat::Table => table(&rows, &group_by, &totals, from, to, context),
    };
    match &args.output {
        Some(path) => {
            let mut file =
                std::fs::File::create(path).map_err(|error| CliError::file(path, error))?;
            file.write_all(body.as_bytes())
                .map_err(|error| CliError::file(path, error))?;
            eprintln!("Wrote {} rows to {}.", rows.len(), path.display());
            Ok(())
        }
        None => print(&body),
    }
}

fn dimension_header(dim: GroupBy) -> &'static str {
    match dim {
        GroupBy::Day => "DAY",
        GroupBy::Tenant => "TEAM ID",
        GroupBy::Model => "MODEL",
        GroupBy::Key => "KEY",
        GroupBy::CostCenter => "COST CENTER",
        GroupBy::Label => "LABEL",
    }
}

fn dimension_value(row: &UsageRow, dim: GroupBy) -> String {
    let value = match dim {
        GroupBy::Day => row.day.map(|day| day.to_string()),
        GroupBy::Tenant => row.team_id.as_deref().map(str::to_owned),
        GroupBy::Model => row.model_id.as_deref().map(str::to_owned),
        GroupBy::Key => row.key_id.as_deref().map(str::to_owned),
        GroupBy::CostCenter => row.cost_center.as_deref().map(str::to_owned),
        GroupBy::Label => row.label.as_deref().map(str::to_owned),
    };
    value
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

/// Report tables show every cost to a millionth of a dollar, so single cheap calls do not read
/// as zero; CSV and JSON carry the exact nano-dollars.
const COST_PLACES: u32 = 6;

fn numbers(totals: &RollupTotals) -> Vec<String> {
    vec![
        totals.invocations.to_string(),
        totals.errors.to_string(),
        totals.input_tokens.to_string(),
        totals.output_tokens.to_string(),
        totals.input_cost.format_usd_places(COST_PLACES),
        totals.output_cost.format_usd_places(COST_PLACES),
        totals.total_cost().format_usd_places(COST_PLACES),
    ]
}

fn table(
    rows: &[UsageRow],
    group_by: &[GroupBy],
    totals: &RollupTotals,
    from: NaiveDate,
    to: NaiveDate,
    context: &Context,
) -> String {
    let zone = context.store.zone();
    if rows.is_empty() {
        return format!("No usage from {from} to {to} ({zone}).\n");
    }
    let mut dims = group_by.to_vec();
    dims.sort();
    dims.dedup();
    // Without dimensions a blank first column still carries the TOTAL label.
    let mut headers: Vec<&'static str> = if dims.is_empty() {
        vec![""]
    } else {
        dims.iter().map(|dim| dimension_header(*dim)).collect()
    };
    headers.extend([
        ">CALLS",
        ">ERRORS",
        ">INPUT TOK",
        ">OUTPUT TOK",
        ">INPUT COST",
        ">OUTPUT COST",
        ">TOTAL COST",
    ]);
    let label_columns = headers.len() - 7;
    let mut table = Table::new(&headers);
    for row in rows {
        let mut cells: Vec<String> = if dims.is_empty() {
            vec![String::new()]
        } else {
            dims.iter().map(|dim| dimension_value(row, *dim)).collect()
        };
        cells.extend(numbers(&row.totals));
        table.row(cells);
    }
    let mut total_cells = vec![String::new(); label_columns];
    "TOTAL".clone_into(&mut total_cells[0]);
    total_cells.extend(numbers(totals));
    table.row(total_cells);
    let unpriced = if totals.unpriced > 0 {
        format!(
            "{} calls used models with no price and are counted at $0; see tollgate price show MODEL.\n",
            totals.unpriced
        )
    } else {
        String::new()
    };
    let estimated = if totals.estimated_calls > 0 {
        format!(
            "{} calls ({} tokens) came back without a token count from their model: Tollgate counted them (the model's tokenizer, or four characters a token) and priced them like the rest.\n",
            totals.estimated_calls, totals.estimated_tokens
        )
    } else {
        String::new()
    };
    format!(
        "Usage from {from} to {to} ({zone}):\n{}{unpriced}{estimated}",
        table.render()
    )
}
