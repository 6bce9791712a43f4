//! `tollgate price ...` end to end.

use crate::common;

use common::Cli;

#[test]
fn shows_lists_sets_and_imports() {
    let cli = Cli::new();
    let shown = cli
        .run(&[
            "--json",
            "price",
            "show",
            "us.anthropic.claude-3-haiku-20240307-v1:0",
        ])
        .ok()
        .json();
    assert_eq!(shown["priced"], true);
    assert_eq!(
        shown["price"]["model_id"],
        "anthropic.claude-3-haiku-20240307-v1:0"
    );
    assert_eq!(shown["price"]["price"]["input_per_1k"], "0.00025");

    let unpriced = cli.run(&["price", "show", "claude-3-5-sonnet"]).ok().stdout;
    assert!(unpriced.contains("has no price"), "{unpriced}");

    let list = cli
        .run(&[
            "price",
            "list",
            "--model",
            "claude-v2",
            "--region",
            "us-east-1",
        ])
        .ok()
        .stdout;
    assert!(
        list.contains("anthropic.claude-v2") && list.contains("$0.008"),
        "{list}"
    );

    cli.run(&[
        "price",
        "set",
        "acme.model-v1",
        "--input",
        "0.001",
        "--output",
        "0.002",
        "--effective-from",
        "2026-01-01",
    ])
    .ok();
    let acme = cli
        .run(&[
            "--json",
            "price",
            "show",
            "acme.model-v1",
            "--date",
            "2026-06-01",
        ])
        .ok()
        .json();
    assert_eq!(acme["price"]["price"]["output_per_1k"], "0.002");
    let before = cli
        .run(&[
            "--json",
            "price",
            "show",
            "acme.model-v1",
            "--date",
            "2025-12-31",
        ])
        .ok()
        .json();
    assert_eq!(before["priced"], false, "not in force before its date");

    let bad = cli
        .run(&["price", "set", "acme.model-v1", "--input", "0.001"])
        .fails();
    assert!(
        bad.stderr.contains("needs input_per_1k and output_per_1k"),
        "{}",
        bad.stderr
    );

    // Export, then import the file again as a new version.
    let exported = cli.path("book.toml");
    cli.run(&["price", "export", "--output", exported.to_str().unwrap()])
        .ok();
    cli.run(&[
        "price",
        "import",
        exported.to_str().unwrap(),
        "--note",
        "round trip",
    ])
    .ok();
    let reference = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tollgate-core/data/reference-models.json"
    );
    let imported = cli
        .run(&[
            "--json",
            "price",
            "import",
            reference,
            "--effective-from",
            "2026-02-01",
        ])
        .ok()
        .json();
    assert!(imported["entries"].as_i64().unwrap() > 200);
    let history = cli.run(&["--json", "price", "history"]).ok().json();
    assert_eq!(history.as_array().unwrap().len(), 4);
}

#[test]
fn a_bad_price_file_is_refused_and_changes_nothing() {
    let cli = Cli::new();
    let file = cli.path("bad.toml");
    std::fs::write(&file, "format = 1\n[[prices]]\nmodel = \"m\"\nregion = \"r\"\nkind = \"text\"\neffective_from = \"2026-01-01\"\ninput_per_1k = \"1e-3\"\noutput_per_1k = \"1\"\n").unwrap();
    let run = cli
        .run(&["price", "import", file.to_str().unwrap()])
        .fails();
    assert!(
        run.stderr.contains("price for m in r") && run.stderr.contains("input_per_1k"),
        "{}",
        run.stderr
    );
    assert_eq!(
        cli.run(&["--json", "price", "history"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let missing = cli
        .run(&["price", "import", "/nonexistent/prices.toml"])
        .fails();
    assert!(
        missing.stderr.contains("/nonexistent/prices.toml"),
        "{}",
        missing.stderr
    );
}
