//! `tollgate usage import` and `tollgate report` end to end on the example reference reports.

use crate::common;

use common::Cli;
use tollgate_core::Nanos;
use tollgate_core::report_csv::read_report;

#[test]
fn import_reference_reports_then_report_in_every_format() {
    let cli = Cli::new();
    cli.run(&["tenant", "create", "alpha", "--cost-center", "CC-100"])
        .ok();
    cli.run(&["tenant", "create", "beta", "--cost-center", "CC-200"])
        .ok();
    let mut args = vec!["usage", "import"];
    let files = Cli::example_reports();
    args.extend(files.iter().map(String::as_str));
    let imported = cli.run(&args).ok();
    assert!(
        imported
            .stderr
            .contains("2026-11-25.csv:3: output_tokens 'many'"),
        "bad rows named by line: {}",
        imported.stderr
    );
    // Importing again replaces, never doubles.
    cli.run(&args).ok();

    let table = cli
        .run(&[
            "report",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--group-by",
            "tenant",
        ])
        .ok()
        .stdout;
    assert!(table.contains("TOTAL"), "{table}");

    let csv_path = cli.path("report.csv");
    cli.run(&[
        "report",
        "--from",
        "2026-11-24",
        "--to",
        "2026-11-25",
        "--group-by",
        "tenant,model,key,day",
        "--output",
        csv_path.to_str().unwrap(),
    ])
    .ok();
    let report = read_report(std::fs::File::open(&csv_path).unwrap(), None).unwrap();
    assert!(report.problems.is_empty());
    assert_eq!(report.rows.len(), 6);
    let claude: Vec<_> = report
        .rows
        .iter()
        .filter(|row| row.model_id == "anthropic.claude-v2")
        .collect();
    assert_eq!(claude.len(), 2);
    assert_eq!(claude[0].invocations + claude[1].invocations, 44);
    // Exact sums of the files' costs: 0.019584 + 0.1152 + 0.00864 + 0.1056.
    let total: Nanos = claude
        .iter()
        .map(|row| row.input_cost + row.output_cost)
        .sum();
    assert_eq!(total, Nanos::parse_exact("0.249024").unwrap());

    let json = cli
        .run(&[
            "--json",
            "report",
            "--from",
            "2026-11-24",
            "--to",
            "2026-11-25",
            "--group-by",
            "cost-center",
        ])
        .ok()
        .json();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["cost_center"], "CC-100");
    assert_eq!(json["total_cost"], "0.5305932");
    let top = cli
        .run(&[
            "--json",
            "report",
            "--from",
            "2026-11-24",
            "--to",
            "2026-11-25",
            "--group-by",
            "model",
            "--top",
            "1",
        ])
        .ok()
        .json();
    assert_eq!(top["rows"].as_array().unwrap().len(), 1);
    assert_eq!(top["rows"][0]["model_id"], "anthropic.claude-v2");

    let csv = cli
        .run(&[
            "report",
            "--from",
            "2026-11-24",
            "--to",
            "2026-11-24",
            "--format",
            "csv",
            "--totals",
            "--group-by",
            "tenant",
        ])
        .ok()
        .stdout;
    assert!(csv.starts_with("team_id,api_key,model_id,input_tokens,output_tokens,invocations,input_cost,output_cost,date,cost_center\n"));
    assert!(csv.lines().last().unwrap().starts_with("TOTAL,"), "{csv}");
}

#[test]
fn bad_report_and_import_input() {
    let cli = Cli::new();
    for (args, expected) in [
        (
            vec!["report", "--from", "2026-13-01"],
            "date '2026-13-01' is not valid",
        ),
        (
            vec!["report", "--from", "2026-11-30", "--to", "2026-11-01"],
            "starts (2026-11-30) after it ends (2026-11-01)",
        ),
        (
            vec!["report", "--group-by", "planet"],
            "cannot group by 'planet'",
        ),
        (vec!["report", "--top", "0"], "--top must be at least 1"),
        (
            vec!["usage", "import", "/nonexistent.csv"],
            "1 of 1 files could not be imported",
        ),
    ] {
        let run = cli.run(&args).fails();
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    let not_a_report = cli.path("notes.csv");
    std::fs::write(&not_a_report, "name,age\nbob,3\n").unwrap();
    let run = cli.run(&["usage", "import", not_a_report.to_str().unwrap()]);
    assert_ne!(run.status, 0);
    assert!(run.stderr.contains("no 'team_id' column"), "{}", run.stderr);
}

#[test]
fn the_report_says_how_much_usage_tollgate_estimated() {
    let cli = Cli::new();
    cli.run(&["tenant", "create", "alpha"]).ok();
    {
        let store = tollgate_store::Store::open(&cli.data_dir().join("tollgate.db")).unwrap();
        let writer = store
            .ledger_writer(tollgate_store::WriterConfig::default())
            .unwrap();
        for (index, estimated) in [true, true, false].into_iter().enumerate() {
            writer
                .record(tollgate_core::UsageRecord {
                    at_ms: 1_795_000_000_000 + index as i64,
                    request_id: format!("r{index}"),
                    team_id: "alpha".into(),
                    key_id: "k".into(),
                    model_id: "m".into(),
                    used: tollgate_core::price_book::Quantities {
                        input_tokens: 10,
                        output_tokens: 5,
                        ..Default::default()
                    },
                    status: 200,
                    priced: true,
                    estimated,
                    ..Default::default()
                })
                .unwrap();
        }
        writer.shutdown().unwrap();
    }
    let table = cli
        .run(&["report", "--from", "2026-11-01", "--to", "2026-11-30"])
        .ok()
        .stdout;
    assert!(
        table.contains("2 calls (30 tokens) came back without a token count"),
        "{table}"
    );
}
