#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The price book against the reference table: every model in every region, cross-region and ARN
//! ids, version suffixes, effective dates, and the shipped default file.

use chrono::NaiveDate;
use tollgate_core::Nanos;
use tollgate_core::price_book::{
    DEFAULT_PRICE_BOOK_TOML, ImageQuality, MatchKind, ModelPrice, PriceBook, PriceEntry, PriceFile,
    PriceKind, Quantities, import_reference_models_json,
};

const REFERENCE: &str = include_str!("../data/reference-models.json");

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn reference_book() -> PriceBook {
    import_reference_models_json(REFERENCE, date("2000-01-01")).unwrap()
}

fn reference_table() -> serde_json::Value {
    serde_json::from_str(REFERENCE).unwrap()
}

#[test]
fn shipped_default_is_the_whole_reference_table() {
    let converted = PriceFile::from_book(&reference_book()).to_toml();
    if std::env::var_os("TOLLGATE_REGENERATE_PRICES").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/default-prices.toml"),
            &converted,
        )
        .unwrap();
    }
    assert_eq!(
        DEFAULT_PRICE_BOOK_TOML, converted,
        "data/default-prices.toml is stale: rerun with TOLLGATE_REGENERATE_PRICES=1"
    );
    let shipped = PriceBook::shipped_default().unwrap();
    assert_eq!(shipped, reference_book());
    let expected_entries: usize = reference_table()
        .as_object()
        .unwrap()
        .values()
        .map(|kinds| {
            kinds
                .as_object()
                .unwrap()
                .values()
                .map(|models| models.as_object().unwrap().len())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(shipped.len(), expected_entries);
    assert!(expected_entries > 200, "{expected_entries}");
}

/// Every text and embedding model in every region prices 1,000 input and 1,000 output tokens at
/// exactly the table's numbers (compared as decimal text, never floats).
#[test]
fn every_reference_model_prices_exactly() {
    let book = reference_book();
    let table = reference_table();
    let raw: serde_json::Map<String, serde_json::Value> = serde_json::from_str(REFERENCE).unwrap();
    let mut checked = 0;
    for (region, kinds) in table.as_object().unwrap() {
        for (kind, models) in kinds.as_object().unwrap() {
            for (model, prices) in models.as_object().unwrap() {
                let quote = book
                    .quote(model, region, date("2026-11-26"))
                    .unwrap_or_else(|| panic!("{model} in {region}"));
                assert_eq!(quote.kind, MatchKind::Exact, "{model}");
                assert!(!quote.region_fallback, "{model} in {region}");
                assert_eq!(&quote.entry.model_id, model);
                if kind == "image" {
                    for (size, qualities) in prices.as_object().unwrap() {
                        for (quality, value) in qualities.as_object().unwrap() {
                            let expected = Nanos::parse_rounded(&value.to_string()).unwrap();
                            let size_px = if size == "512x512" { 512 } else { 1024 };
                            let used = Quantities {
                                images: 2,
                                image_width: size_px,
                                image_height: size_px,
                                image_quality: Some(quality.parse::<ImageQuality>().unwrap()),
                                ..Quantities::default()
                            };
                            let cost = book.price(model, region, date("2026-11-26"), &used).cost;
                            assert_eq!(
                                cost.image,
                                Nanos(expected.0 * 2),
                                "{model} {region} {size} {quality}"
                            );
                            checked += 1;
                        }
                    }
                } else {
                    let used = Quantities {
                        input_tokens: 1000,
                        output_tokens: 1000,
                        ..Quantities::default()
                    };
                    let cost = book.price(model, region, date("2026-11-26"), &used).cost;
                    assert_eq!(
                        cost.input,
                        Nanos::parse_rounded(&prices["input_cost"].to_string()).unwrap(),
                        "{model} {region}"
                    );
                    assert_eq!(
                        cost.output,
                        Nanos::parse_rounded(&prices["output_cost"].to_string()).unwrap(),
                        "{model} {region}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 230, "{checked}");
    assert!(!raw.is_empty());
}

#[test]
fn cross_region_profiles_and_arns_price_as_their_base_model() {
    let book = reference_book();
    let day = date("2026-11-26");
    let base = book
        .quote("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", day)
        .unwrap();
    let cases = [
        (
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            MatchKind::Profile,
        ),
        (
            "eu.anthropic.claude-3-haiku-20240307-v1:0",
            MatchKind::Profile,
        ),
        (
            "apac.anthropic.claude-3-haiku-20240307-v1:0",
            MatchKind::Profile,
        ),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            MatchKind::Profile,
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
            MatchKind::Profile,
        ),
        (
            "anthropic.claude-3-haiku-20240307-v1:0:200k",
            MatchKind::Longest,
        ),
        (
            "us.anthropic.claude-3-haiku-20240307-v1:0:48k",
            MatchKind::Longest,
        ),
    ];
    for (sent, kind) in cases {
        let quote = book
            .quote(sent, "us-east-1", day)
            .unwrap_or_else(|| panic!("{sent}"));
        assert_eq!(quote.entry, base.entry, "{sent}");
        assert_eq!(quote.kind, kind, "{sent}");
    }
    // A version suffix picks the longest known id, not a shorter sibling.
    let v21 = book
        .quote("anthropic.claude-v2:1:200k", "us-east-1", day)
        .unwrap();
    assert_eq!(v21.entry.model_id, "anthropic.claude-v2:1");
}

#[test]
fn never_substring_matching() {
    let book = reference_book();
    let day = date("2026-11-26");
    for sent in [
        "claude-3-5-sonnet",
        "claude",
        "titan",
        "anthropic.claude-3",
        "anthropic.claude-3-5-sonnet",
        "sonnet-20240620-v1:0",
    ] {
        assert!(
            book.quote(sent, "us-east-1", day).is_none(),
            "{sent} must be unpriced"
        );
    }
    let priced = book.price(
        "claude-3-5-sonnet",
        "us-east-1",
        day,
        &Quantities {
            input_tokens: 5,
            ..Quantities::default()
        },
    );
    assert!(!priced.is_priced());
    assert_eq!(priced.cost.total(), Nanos::ZERO);
}

#[test]
fn unknown_region_falls_back_to_the_default_region_and_says_so() {
    let book = reference_book();
    let quote = book
        .quote("anthropic.claude-v2", "xx-nowhere-1", date("2026-11-26"))
        .unwrap();
    assert!(quote.region_fallback);
    assert_eq!(quote.entry.region, "us-east-1");
}

#[test]
fn effective_dates_pick_the_price_in_force() {
    let mut book = PriceBook::new("us-east-1");
    let entry = |from: &str, input: &str| PriceEntry {
        model_id: "acme.model".into(),
        region: "us-east-1".into(),
        effective_from: date(from),
        price: ModelPrice::text(
            Nanos::parse_exact(input).unwrap(),
            Nanos::parse_exact("0.01").unwrap(),
        ),
    };
    book.insert(entry("2024-01-01", "0.003"));
    book.insert(entry("2025-06-01", "0.002"));
    let input_on = |day: &str| {
        book.quote("acme.model", "us-east-1", date(day))
            .map(|quote| quote.entry.price.input_per_1k)
    };
    assert_eq!(input_on("2023-12-31"), None);
    assert_eq!(input_on("2024-01-01"), Some(Nanos(3_000_000)));
    assert_eq!(input_on("2025-05-31"), Some(Nanos(3_000_000)));
    assert_eq!(input_on("2025-06-01"), Some(Nanos(2_000_000)));
}

#[test]
fn image_quality_follows_steps_and_size() {
    let book = reference_book();
    let day = date("2026-11-26");
    let cost = |width, height, steps| {
        let used = Quantities {
            images: 1,
            image_width: width,
            image_height: height,
            image_steps: steps,
            ..Quantities::default()
        };
        book.price("stability.stable-diffusion-xl-v1", "us-east-1", day, &used)
            .cost
            .image
    };
    assert_eq!(cost(512, 512, 30), Nanos::parse_exact("0.018").unwrap());
    assert_eq!(cost(512, 512, 51), Nanos::parse_exact("0.036").unwrap());
    assert_eq!(cost(1024, 512, 50), Nanos::parse_exact("0.036").unwrap());
    assert_eq!(cost(1024, 1024, 80), Nanos::parse_exact("0.072").unwrap());
}

#[test]
fn endpoint_and_cache_prices() {
    let mut price = ModelPrice::text(
        Nanos::parse_exact("0.003").unwrap(),
        Nanos::parse_exact("0.015").unwrap(),
    );
    price.cache_read_per_1k = Some(Nanos::parse_exact("0.0003").unwrap());
    let used = Quantities {
        input_tokens: 1500,
        output_tokens: 333,
        cache_read_tokens: 10_000,
        cache_write_tokens: 2000,
        ..Quantities::default()
    };
    let cost = tollgate_core::price_book::cost_of(&price, &used);
    assert_eq!(cost.input, Nanos(4_500_000));
    assert_eq!(cost.output, Nanos(4_995_000));
    assert_eq!(cost.cache_read, Nanos(3_000_000));
    assert_eq!(
        cost.cache_write,
        Nanos(6_000_000),
        "unpriced cache writes cost the input price"
    );
    let endpoint = ModelPrice {
        kind: PriceKind::Endpoint,
        per_second: Some(Nanos::parse_exact("0.001").unwrap()),
        ..price
    };
    let cost = tollgate_core::price_book::cost_of(
        &endpoint,
        &Quantities {
            endpoint_ms: 2_500,
            ..Quantities::default()
        },
    );
    assert_eq!(cost.endpoint, Nanos(2_500_000));
}

#[test]
fn price_file_errors_name_the_entry() {
    let bad = "format = 1\n[[prices]]\nmodel = \"m\"\nregion = \"r\"\nkind = \"text\"\neffective_from = \"2024-01-01\"\ninput_per_1k = \"0.1.2\"\noutput_per_1k = \"1\"\n";
    let error = PriceFile::parse(bad).unwrap_err().to_string();
    assert!(
        error.contains("price for m in r") && error.contains("input_per_1k"),
        "{error}"
    );
    let missing = "format = 1\n[[prices]]\nmodel = \"m\"\nregion = \"r\"\nkind = \"text\"\neffective_from = \"2024-01-01\"\ninput_per_1k = \"1\"\n";
    assert!(
        PriceFile::parse(missing)
            .unwrap_err()
            .to_string()
            .contains("output_per_1k")
    );
    let unknown_key = "format = 1\nsurprise = true\n";
    assert!(
        PriceFile::parse(unknown_key)
            .unwrap_err()
            .to_string()
            .contains("surprise")
    );
    assert!(matches!(
        PriceFile::parse("format = 2\n"),
        Err(tollgate_core::price_book::PriceBookError::NewerFormat(2))
    ));
}
