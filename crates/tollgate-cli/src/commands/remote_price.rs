//! `tollgate --server URL price ...`: the price list, setting a text price and recomputing past
//! costs through the admin API (recompute runs as a job on the server; this follows it).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::remote::{Remote, encode, show};
use crate::args::PriceCommand;
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json};

/// How often a recompute job is asked how far it got.
const POLL: Duration = Duration::from_millis(250);

pub(super) fn run(remote: &Remote, json: bool, command: PriceCommand) -> Result<()> {
    match command {
        PriceCommand::List { model, region } => {
            let search = model.as_deref().map(encode).unwrap_or_default();
            let mut rows = match remote.call(
                Method::GET,
                &format!("/admin/v1/prices?search={search}"),
                None,
            )? {
                Value::Array(rows) => rows,
                other => return show(json, &other),
            };
            if let Some(region) = &region {
                rows.retain(|row| row["region"].as_str() == Some(region.as_str()));
            }
            if json {
                return print_json(&Value::Array(rows));
            }
            let mut table = Table::new(&[
                "MODEL",
                "REGION",
                "KIND",
                "FROM",
                "INPUT /1K",
                "OUTPUT /1K",
                "PER SECOND",
            ]);
            for row in &rows {
                let text = |field: &str| match &row[field] {
                    Value::String(text) => text.clone(),
                    Value::Null => "-".to_owned(),
                    other => other.to_string(),
                };
                table.row(vec![
                    text("model_id"),
                    text("region"),
                    text("kind"),
                    text("effective_from"),
                    text("input_per_1k"),
                    text("output_per_1k"),
                    text("per_second"),
                ]);
            }
            print(&table.render())
        }
        PriceCommand::Set {
            model,
            region,
            kind,
            input,
            output,
            cache_read,
            cache_write,
            per_second,
            effective_from,
            note: _,
        } => {
            if kind != "text"
                || cache_read.is_some()
                || cache_write.is_some()
                || per_second.is_some()
            {
                return Err(CliError::usage(
                    "with --server, price set takes text prices (--input and --output); set other kinds in the server's price book with tollgate price import on its machine",
                ));
            }
            let (Some(input), Some(output)) = (input, output) else {
                return Err(CliError::usage(
                    "price set needs both --input and --output (USD per 1,000 tokens)",
                ));
            };
            let effective_from =
                effective_from.unwrap_or_else(|| chrono::Local::now().date_naive().to_string());
            let saved = remote.call(
                Method::POST,
                "/admin/v1/prices",
                Some(json!({
                    "model_id": model,
                    "region": region,
                    "effective_from": effective_from,
                    "input_per_1k": input,
                    "output_per_1k": output,
                })),
            )?;
            if json {
                return print_json(&saved);
            }
            print(&format!(
                "Set the price of {model} in {region} from {effective_from}: ${input} input, ${output} output per 1,000 tokens.\nPast days keep their costs; run tollgate --server ... price recompute --from {effective_from} --to TODAY to apply it to them.\n"
            ))
        }
        PriceCommand::Recompute { from, to } => {
            let mut job = remote.call(
                Method::POST,
                "/admin/v1/recompute",
                Some(json!({"from": from, "to": to})),
            )?;
            let id = job["id"].clone();
            while job["state"] == "running" {
                std::thread::sleep(POLL);
                job = remote.call(Method::GET, &format!("/admin/v1/recompute/{id}"), None)?;
                if !json && let Some(progress) = job.get("progress").filter(|p| !p.is_null()) {
                    eprint!(
                        "\rrecomputing: {} of {} days, through {}",
                        progress["done_days"],
                        progress["total_days"],
                        progress["through"].as_str().unwrap_or_default()
                    );
                }
            }
            if !json {
                eprintln!();
            }
            finished(json, &job, &from, &to)
        }
        PriceCommand::Import { .. }
        | PriceCommand::Show { .. }
        | PriceCommand::History
        | PriceCommand::Export { .. } => Err(CliError::usage(
            "with --server, price takes list, set and recompute; import, show, history and export work on the gateway's machine",
        )),
    }
}

fn finished(json: bool, job: &Value, from: &str, to: &str) -> Result<()> {
    match job["state"].as_str() {
        Some("failed") => Err(CliError::usage(format!(
            "recompute {} failed: {}",
            job["id"],
            job["error"].as_str().unwrap_or("no reason given")
        ))),
        _ if json => print_json(job),
        state => {
            let result = &job["result"];
            let money = |field: &str| result[field].as_str().unwrap_or("0").to_owned();
            let unpriced = result["unpriced"].as_u64().unwrap_or(0);
            print(&format!(
                "{} {} calls from {from} to {}: {} changed, cost ${} -> ${}{}.\n",
                if state == Some("cancelled") {
                    "Cancelled after recomputing"
                } else {
                    "Recomputed"
                },
                result["rows"],
                result["through"].as_str().unwrap_or(to),
                result["changed"],
                money("cost_before"),
                money("cost_after"),
                if unpriced > 0 {
                    format!(" ({unpriced} calls still unpriced)")
                } else {
                    String::new()
                }
            ))
        }
    }
}
