use serde_json::json;
use tollgate_core::Nanos;
use tollgate_core::price_book::{
    MatchKind, PriceEntry, PriceFile, PriceFileEntry, PriceKind, import_reference_models_json,
};

use super::Context;
use crate::args::{PriceCommand, PriceFormat};
use crate::error::{CliError, Result};
use crate::output::{Table, print, print_json, timestamp};
use crate::parse::date;

fn opt_usd(value: Option<Nanos>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("${value}"))
}

fn entry_json(entry: &PriceEntry) -> serde_json::Value {
    serde_json::to_value(entry).unwrap_or_default()
}

/// The columns shown for a price entry.
fn price_cells(entry: &PriceEntry) -> Vec<String> {
    let price = &entry.price;
    let (input, output) = match price.kind {
        PriceKind::Text => (
            opt_usd(Some(price.input_per_1k)),
            opt_usd(Some(price.output_per_1k)),
        ),
        PriceKind::Embedding => (opt_usd(Some(price.input_per_1k)), "-".to_owned()),
        PriceKind::Image | PriceKind::Endpoint => ("-".to_owned(), "-".to_owned()),
    };
    let other = match price.kind {
        PriceKind::Image => price
            .images
            .iter()
            .map(|image| {
                format!(
                    "{} {} ${}",
                    image.size.as_str(),
                    image.quality.as_str(),
                    image.price
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        PriceKind::Endpoint => format!("{}/s", opt_usd(price.per_second)),
        _ => {
            let mut parts = Vec::new();
            if let Some(read) = price.cache_read_per_1k {
                parts.push(format!("cache read ${read}"));
            }
            if let Some(write) = price.cache_write_per_1k {
                parts.push(format!("cache write ${write}"));
            }
            parts.join("; ")
        }
    };
    vec![
        entry.model_id.clone(),
        entry.region.clone(),
        price.kind.to_string(),
        entry.effective_from.to_string(),
        input,
        output,
        other,
    ]
}

const PRICE_HEADERS: [&str; 7] = [
    "MODEL",
    "REGION",
    "KIND",
    "FROM",
    ">INPUT/1K",
    ">OUTPUT/1K",
    "OTHER",
];

pub fn run(context: &mut Context, command: PriceCommand) -> Result<()> {
    let store = &context.store;
    match command {
        PriceCommand::Import {
            file,
            format,
            effective_from,
            note,
        } => {
            let text =
                std::fs::read_to_string(&file).map_err(|error| CliError::file(&file, error))?;
            let format = format.unwrap_or(if file.extension().is_some_and(|ext| ext == "json") {
                PriceFormat::Reference
            } else {
                PriceFormat::Tollgate
            });
            let book = match format {
                PriceFormat::Reference => {
                    let from = effective_from
                        .as_deref()
                        .map(date)
                        .transpose()?
                        .unwrap_or_else(|| context.today());
                    import_reference_models_json(&text, from)
                        .map_err(|error| CliError::file(&file, error))?
                }
                PriceFormat::Tollgate => {
                    if effective_from.is_some() {
                        return Err(CliError::usage(
                            "--effective-from applies to reference files; Tollgate files date each price",
                        ));
                    }
                    PriceFile::parse(&text)
                        .map_err(|error| CliError::file(&file, error))?
                        .into_book()
                }
            };
            if book.is_empty() {
                return Err(CliError::file(&file, "holds no prices"));
            }
            let version = store.save_prices(
                book.entries(),
                book.default_region(),
                &file.display().to_string(),
                &note,
            )?;
            if context.json {
                print_json(&version)
            } else {
                print(&format!(
                    "Imported {} prices from {} as price-book version {}.\n",
                    version.entries,
                    file.display(),
                    version.version
                ))
            }
        }
        PriceCommand::List { model, region } => {
            let book = store.price_book()?;
            let today = context.today();
            let entries: Vec<&PriceEntry> = book
                .in_force(today)
                .into_iter()
                .filter(|entry| {
                    model
                        .as_deref()
                        .is_none_or(|text| entry.model_id.contains(text))
                })
                .filter(|entry| {
                    region
                        .as_deref()
                        .is_none_or(|region| entry.region == region)
                })
                .collect();
            if context.json {
                return print_json(
                    &entries
                        .iter()
                        .map(|entry| entry_json(entry))
                        .collect::<Vec<_>>(),
                );
            }
            if entries.is_empty() {
                return print("No prices match.\n");
            }
            let mut table = Table::new(&PRICE_HEADERS);
            for entry in entries {
                table.row(price_cells(entry));
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
            note,
        } => {
            let raw = PriceFileEntry {
                model,
                region,
                kind,
                effective_from: effective_from.unwrap_or_else(|| context.today().to_string()),
                input_per_1k: input,
                output_per_1k: output,
                cache_read_per_1k: cache_read,
                cache_write_per_1k: cache_write,
                per_second,
                images: Vec::new(),
            };
            if raw.kind == "image" {
                return Err(CliError::usage(
                    "image prices have several sizes and qualities: put them in a price-book file and use tollgate price import",
                ));
            }
            let entry = raw.to_entry().map_err(CliError::usage)?;
            let book = store.price_book()?;
            let version = store.save_prices([&entry], book.default_region(), "price set", &note)?;
            if context.json {
                return print_json(
                    &json!({ "version": version.version, "price": entry_json(&entry) }),
                );
            }
            let mut table = Table::new(&PRICE_HEADERS);
            table.row(price_cells(&entry));
            print(&format!(
                "Set the price of {} in {} from {} (price-book version {}).\n{}Past days keep their costs; run tollgate price recompute --from {} --to TODAY to apply it to them.\n",
                entry.model_id,
                entry.region,
                entry.effective_from,
                version.version,
                table.render(),
                entry.effective_from
            ))
        }
        PriceCommand::Show {
            model,
            region,
            date: on,
        } => {
            let on = on
                .as_deref()
                .map(date)
                .transpose()?
                .unwrap_or_else(|| context.today());
            let book = store.price_book()?;
            let Some(quote) = book.quote(&model, &region, on) else {
                if context.json {
                    return print_json(
                        &json!({ "model": model, "region": region, "date": on.to_string(), "priced": false }),
                    );
                }
                return print(&format!(
                    "{model} has no price in {region} on {on}: its calls are recorded at $0 and flagged unpriced.\nAdd one with: tollgate price set {model} --region {region} --input USD --output USD\n"
                ));
            };
            let how = match quote.kind {
                MatchKind::Exact => "exact id",
                MatchKind::Profile => "inference profile / ARN of the base model",
                MatchKind::Longest => "longest known id it extends",
            };
            if context.json {
                return print_json(&json!({
                    "model": model, "region": region, "date": on.to_string(), "priced": true,
                    "matched": how, "region_fallback": quote.region_fallback, "price": entry_json(&quote.entry),
                }));
            }
            let mut table = Table::new(&PRICE_HEADERS);
            table.row(price_cells(&quote.entry));
            let fallback = if quote.region_fallback {
                format!(" (no price in {region}; using {})", quote.entry.region)
            } else {
                String::new()
            };
            print(&format!(
                "{model} on {on} is priced as {} by {how}{fallback}.\n{}",
                quote.entry.model_id,
                table.render()
            ))
        }
        PriceCommand::History => {
            let versions = store.price_versions()?;
            if context.json {
                return print_json(&versions);
            }
            let mut table = Table::new(&[">VERSION", "CREATED", ">ENTRIES", "SOURCE", "NOTE"]);
            for version in versions {
                table.row(vec![
                    version.version.to_string(),
                    timestamp(Some(version.created_at_ms)),
                    version.entries.to_string(),
                    version.source,
                    version.note,
                ]);
            }
            print(&table.render())
        }
        PriceCommand::Recompute { from, to } => {
            let summary = store.recompute_costs(date(&from)?, date(&to)?)?;
            if context.json {
                return print_json(&summary);
            }
            print(&format!(
                "Recomputed {} calls from {from} to {to}: {} changed, cost {} -> {}{}.\n",
                summary.rows,
                summary.changed,
                summary.cost_before.format_usd(),
                summary.cost_after.format_usd(),
                if summary.unpriced > 0 {
                    format!(" ({} calls still unpriced)", summary.unpriced)
                } else {
                    String::new()
                }
            ))
        }
        PriceCommand::Export { output } => {
            let book = store.price_book()?;
            let text = PriceFile::from_book(&book).to_toml();
            match output {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|error| CliError::file(&path, error))?;
                    if context.json {
                        print_json(&json!({ "written": path, "entries": book.len() }))
                    } else {
                        print(&format!(
                            "Wrote {} prices to {}.\n",
                            book.len(),
                            path.display()
                        ))
                    }
                }
                None => print(&text),
            }
        }
    }
}
