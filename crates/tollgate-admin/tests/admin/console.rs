//! The console as the desktop app holds it: first start, the engine and its models, the
//! playground's key, the Costs screen with its exports, the price book and the settings.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::Value;
use tollgate_admin::{
    AdminError, ChartKind, Console, CostScope, ErrorCode, ExportFormat, PlaygroundRequest,
    PriceForm, RangePreset, TenantForm, Theme, prices, recompute, run_playground, save_price,
};
use tollgate_testkit::{MockUpstream, Script};

/// The shared mock upstream answering with two words, 1,000 tokens in and 500 out.
fn start_upstream(runtime: &tokio::runtime::Runtime) -> String {
    runtime
        .block_on(MockUpstream::start_with(Script::saying(
            &["Hi", " there"],
            (1000, 500),
        )))
        .base_url
}

/// A data directory with two models in `tollgate.toml`, an AWS workspace, and the engine on a
/// free port (so tests never fight over 8787).
fn data_dir(root: &Path, upstream: &str) -> std::path::PathBuf {
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("console.toml"), "gateway_port = 0\n").unwrap();
    std::fs::write(
        data.join("tollgate.toml"),
        format!(
            "[[models]]\nid = \"chat\"\nbase_url = \"{upstream}\"\nprice_as = \"anthropic.claude-v2\"\nmax_retries = 0\n\n\
             [[models]]\nid = \"other\"\nbase_url = \"{upstream}\"\nprice_as = \"anthropic.claude-v2\"\n\n\
             [workspaces.prod]\nregion = \"eu-west-1\"\nrest_api_id = \"abc123\"\nstage = \"prod\"\n"
        ),
    )
    .unwrap();
    data
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[test]
fn first_start_runs_the_engine_with_the_configured_models() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = start_upstream(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), &upstream);
    let console = Console::open(&data).unwrap();
    let overview = console.overview();
    assert!(overview.engine.running, "{:?}", overview.engine);
    assert_ne!(overview.engine.port, 0);
    let curl = overview.engine.curl_example.unwrap();
    assert!(
        curl.contains(&format!("127.0.0.1:{}", overview.engine.port)) && curl.contains("chat"),
        "{curl}"
    );
    let ids: Vec<&str> = overview
        .models
        .iter()
        .map(|model| model.id.as_str())
        .collect();
    assert_eq!(ids, ["chat", "other"]);
    assert!(!overview.local_model.installed);
    assert_eq!(
        overview.local_model.install_command,
        "tollgate model install"
    );
    assert_eq!(overview.aws_workspaces.len(), 1);
    assert_eq!(overview.aws_workspaces[0].name, "prod");

    // A workspace added from a stack is in tollgate.toml beside the rest, and in the overview.
    let mut console = console;
    let unit1 = tollgate_aws::AwsWorkspace::for_stack("unit1", "a1b2c3d4e5", "us-east-1");
    let added = console
        .add_aws_workspace("unit1", unit1.clone(), "unit1-bedrock-saas")
        .unwrap();
    let names: Vec<&str> = added
        .aws_workspaces
        .iter()
        .map(|ws| ws.name.as_str())
        .collect();
    assert_eq!(names, ["prod", "unit1"]);
    assert_eq!(added.aws_workspaces[1].stage.as_deref(), Some("unit1_prod"));
    let written = tollgate_admin::Config::load(&data.join("tollgate.toml")).unwrap();
    assert_eq!(written.models.len(), 2, "the models are kept");
    assert_eq!(
        written.workspaces["unit1"].stack_prefix.as_deref(),
        Some("unit1")
    );
    let again = console
        .add_aws_workspace("unit1", unit1, "unit1-bedrock-saas")
        .unwrap_err();
    assert_eq!(again.code, tollgate_admin::ErrorCode::Conflict, "{again}");
    assert!(tollgate_admin::check_workspace_name("has space").is_err());
    assert!(overview.config_path.ends_with("tollgate.toml"));
    // The engine answers on the port it reports.
    let health = runtime
        .block_on(reqwest::get(format!(
            "{}/healthz",
            overview.engine.base_url.unwrap()
        )))
        .unwrap();
    assert!(health.status().is_success());

    // A key made in the console works on the very next call (the engine reloads at once, not at
    // its next periodic check).
    let base_url = console.overview().engine.base_url.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    for round in 0..3 {
        let team = format!("team-{round}");
        let secret = console
            .apply(|local| {
                local.create_tenant(&TenantForm {
                    team_id: team.clone(),
                    ..TenantForm::default()
                })?;
                local.create_key(&team, "app")
            })
            .unwrap()
            .secret;
        let models = runtime
            .block_on(
                reqwest::Client::new()
                    .get(format!("{base_url}/v1/models"))
                    .bearer_auth(&secret)
                    .send(),
            )
            .unwrap();
        assert_eq!(models.status(), 200, "round {round}");
    }
}

#[test]
fn the_playground_calls_as_the_team_and_the_cost_shows_in_charts_and_exports() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = start_upstream(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), &upstream);
    let mut console = Console::open(&data).unwrap();
    console
        .local
        .create_tenant(&TenantForm {
            team_id: "alpha".to_owned(),
            cost_center: "CC-1".to_owned(),
            budget: "10".to_owned(),
            allowed_models: vec!["chat".to_owned()],
            ..TenantForm::default()
        })
        .unwrap();
    assert_eq!(console.team_models("alpha").unwrap(), ["chat"]);
    assert_eq!(
        console.team_models("nobody").unwrap_err().code,
        ErrorCode::NotFound
    );

    // One key per team while it is fresh, a new one near its expiry.
    let (base_url, key) = console.playground_target("alpha", now()).unwrap();
    let (_, again) = console.playground_target("alpha", now() + 60_000).unwrap();
    assert_eq!(key, again);
    let (_, later) = console
        .playground_target("alpha", now() + 11 * 3_600_000 + 1)
        .unwrap();
    assert_ne!(key, later);

    let mut tokens = Vec::new();
    let result = runtime
        .block_on(run_playground(
            &base_url,
            &key,
            &PlaygroundRequest {
                model: "chat".to_owned(),
                prompt: "Hello?".to_owned(),
                ..PlaygroundRequest::default()
            },
            Arc::new(AtomicBool::new(false)),
            &mut |piece: &str| tokens.push(piece.to_owned()),
        ))
        .unwrap();
    assert_eq!(tokens, ["Hi", " there"]);
    assert_eq!((result.input_tokens, result.output_tokens), (1000, 500));
    // claude-v2: $0.008 in, $0.024 out per 1k tokens.
    assert_eq!(result.cost.to_decimal_string(), "0.02");
    let left = console.budget_left("alpha", now()).unwrap().unwrap();
    assert_eq!(left.to_decimal_string(), "9.98");

    let scope = CostScope::default();
    let screen = tollgate_admin::cost_screen(
        &console
            .cost_view(RangePreset::Last30Days, &scope, now())
            .unwrap(),
        Theme::Dark,
    )
    .unwrap();
    assert_eq!(screen.view.total.to_decimal_string(), "0.02");
    assert_eq!(screen.view.rows[0].name, "alpha");
    for svg in [&screen.daily_svg, &screen.cumulative_svg, &screen.top_svg] {
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    }
    assert!(screen.top_svg.contains("alpha"));

    let tenant = CostScope {
        team_id: Some("alpha".to_owned()),
        ..CostScope::default()
    };
    let tenant_view = console
        .cost_view(RangePreset::Last30Days, &tenant, now())
        .unwrap();
    let csv_path = console
        .write_costs(&tenant_view, ExportFormat::Csv)
        .unwrap();
    assert!(csv_path.starts_with(data.join("exports")));
    assert!(
        csv_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("costs-alpha-")
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with("chat,,1,1000,500,0,0.02,"), "{csv}");
    assert!(lines[2].starts_with("TOTAL,,1,1000,500,0,0.02,"), "{csv}");

    // JSON: the whole view, money as exact decimal strings.
    let json_path = console
        .write_costs(&tenant_view, ExportFormat::Json)
        .unwrap();
    assert_eq!(json_path.with_extension("csv"), csv_path);
    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json["total"], "0.02", "{json:#}");
    assert_eq!(json["scope"]["team_id"], "alpha");
    assert_eq!(json["rows_by"], "model");
    assert_eq!(json["rows"][0]["name"], "chat");
    assert_eq!(json["rows"][0]["cost"], "0.02");
    assert_eq!(json["rows"][0]["invocations"], 1);

    let month = console
        .cost_view(RangePreset::ThisMonth, &scope, now())
        .unwrap();
    let png = console
        .write_chart_png(&month, ChartKind::DailyByModel, Theme::Light)
        .unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn prices_are_edited_from_a_date_and_past_days_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), "http://127.0.0.1:9/v1");
    let console = Console::open(&data).unwrap();
    let store = &console.local.store;
    let before = prices(store, "claude-v2").unwrap();
    assert!(!before.is_empty());
    let bad = AdminError::from(
        save_price(
            store,
            &PriceForm {
                model_id: "my-model".to_owned(),
                effective_from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                input_per_1k: "cheap".to_owned(),
                output_per_1k: "0.002".to_owned(),
                ..PriceForm::default()
            },
            "console",
        )
        .unwrap_err(),
    );
    assert_eq!(bad.code, ErrorCode::Invalid);
    assert!(bad.message.starts_with("input per 1k tokens"), "{bad}");
    assert!(
        prices(store, "my-model").unwrap().is_empty(),
        "nothing saved"
    );

    save_price(
        store,
        &PriceForm {
            model_id: "my-model".to_owned(),
            effective_from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            input_per_1k: "$0.001".to_owned(),
            output_per_1k: "0.002".to_owned(),
            ..PriceForm::default()
        },
        "console",
    )
    .unwrap();
    let mine = prices(store, "my-model").unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].input_per_1k.to_decimal_string(), "0.001");
    assert_eq!(mine[0].region, "us-east-1");

    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let summary = recompute(store, day, day).unwrap();
    assert_eq!(summary.rows, 0);
    let backwards = AdminError::from(recompute(store, day, day.pred_opt().unwrap()).unwrap_err());
    assert_eq!(backwards.code, ErrorCode::Invalid);
}

#[test]
fn recompute_goes_a_week_at_a_time_and_stops_between_weeks() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tollgate_store::RecomputeSummary;
    let date = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    let one_row_a_day = |first: chrono::NaiveDate, last: chrono::NaiveDate| {
        let days = (last - first).num_days() as u64 + 1;
        RecomputeSummary {
            rows: days,
            changed: days / 2,
            unpriced: 0,
            cost_before: tollgate_core::Nanos(1_000 * days as i64),
            cost_after: tollgate_core::Nanos(900 * days as i64),
        }
    };
    let never = AtomicBool::new(false);
    let mut steps = Vec::new();
    let mut reports = Vec::new();
    let result = tollgate_admin::recompute_in_steps::<AdminError>(
        |first, last| {
            steps.push((first, last));
            Ok(one_row_a_day(first, last))
        },
        date("2026-01-01"),
        date("2026-01-31"),
        &mut |progress| reports.push(progress),
        &never,
    )
    .unwrap();
    assert_eq!(
        steps.first(),
        Some(&(date("2026-01-01"), date("2026-01-07")))
    );
    assert_eq!(
        steps.last(),
        Some(&(date("2026-01-29"), date("2026-01-31")))
    );
    assert_eq!(steps.len(), 5);
    assert!(
        steps
            .windows(2)
            .all(|pair| pair[1].0 == pair[0].1.succ_opt().unwrap())
    );
    assert_eq!((result.rows, result.cost_after.0), (31, 27_900));
    assert!(!result.cancelled);
    assert_eq!(result.through, Some(date("2026-01-31")));
    let last = reports.last().unwrap();
    assert_eq!((last.done_days, last.total_days), (31, 31));

    // Cancelled after the second week: two weeks done, the rest untouched.
    let cancel = AtomicBool::new(false);
    let mut calls = 0;
    let result = tollgate_admin::recompute_in_steps::<AdminError>(
        |first, last| {
            calls += 1;
            Ok(one_row_a_day(first, last))
        },
        date("2026-01-01"),
        date("2026-12-31"),
        &mut |progress| {
            if progress.done_days >= 14 {
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &cancel,
    )
    .unwrap();
    assert_eq!(calls, 2);
    assert!(result.cancelled);
    assert_eq!(
        (result.rows, result.through),
        (14, Some(date("2026-01-14")))
    );

    // A failing week stops the run with its error.
    let error = tollgate_admin::recompute_in_steps(
        |_, _| Err(AdminError::new(ErrorCode::Storage, "disk full")),
        date("2026-01-01"),
        date("2026-01-31"),
        &mut |_| {},
        &never,
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Storage);
}

/// The console's async commands (port change, model installed) restart the engine from inside a
/// Tokio runtime; starting or dropping the engine's own runtime there used to panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_restarts_from_inside_an_async_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), "http://127.0.0.1:9/v1");
    let mut console = Console::open(&data).unwrap();
    let moved = console.set_gateway_port(0).unwrap();
    assert!(moved.engine.running, "{:?}", moved.engine);
    let overview = console.local_model_installed(now()).unwrap();
    assert!(overview.engine.running, "{:?}", overview.engine);
    // A taken port fails as an error, not a panic, here too.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let refused = console.set_gateway_port(port).unwrap();
    assert!(!refused.engine.running && refused.engine.error.is_some());
    drop(console);
}

#[test]
fn settings_persist_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), "http://127.0.0.1:9/v1");
    {
        let mut console = Console::open(&data).unwrap();
        console.set_theme(Theme::Dark).unwrap();
        let moved = console.set_gateway_port(0).unwrap();
        assert!(moved.engine.running);
    }
    let console = Console::open(&data).unwrap();
    assert_eq!(console.overview().settings.theme, Theme::Dark);
    drop(console);

    // A taken port leaves the console usable, with the reason for a banner.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::write(
        data.join("console.toml"),
        format!("gateway_port = {port}\ntheme = \"dark\"\n"),
    )
    .unwrap();
    let console = Console::open(&data).unwrap();
    let engine = console.overview().engine;
    assert!(!engine.running);
    assert!(
        !engine.another_engine,
        "a taken port is not another Tollgate engine"
    );
    assert!(
        engine
            .error
            .as_deref()
            .unwrap()
            .contains(&format!("port {port}")),
        "{engine:?}"
    );
    drop(console);

    // A broken tollgate.toml: the engine runs without its models, and says why.
    std::fs::write(data.join("console.toml"), "gateway_port = 0\n").unwrap();
    std::fs::write(data.join("tollgate.toml"), "[[models]]\nid = 3\n").unwrap();
    let console = Console::open(&data).unwrap();
    let overview = console.overview();
    assert!(overview.engine.running);
    assert!(overview.models.is_empty());
    assert!(
        overview
            .engine
            .error
            .as_deref()
            .unwrap()
            .contains("tollgate.toml is not valid"),
        "{:?}",
        overview.engine
    );
    drop(console);

    std::fs::write(data.join("console.toml"), "gateway_prot = 1\n").unwrap();
    let error = Console::open(&data).unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    assert!(error.message.contains("console.toml"), "{error}");
}

/// A database already served by another engine (here a gateway in this process, as a
/// `tollgate serve` would) gets no second engine from the console: its limits would be enforced
/// twice. The console says who serves it, and its screens keep working on the database.
#[test]
fn the_console_starts_no_second_engine_on_a_served_database() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = start_upstream(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), &upstream);
    // The database exists (as a console's first start leaves it) and is served elsewhere.
    drop(Console::open(&data).unwrap());
    let serving = {
        let _guard = runtime.enter();
        tollgate_gateway::Gateway::start(
            &data.join("tollgate.db"),
            tollgate_gateway::ServerConfig::default(),
            &[],
        )
        .unwrap()
    };

    let error = tollgate_admin::Engine::start(&data, 0, &[]).unwrap_err();
    assert_eq!(error.code, ErrorCode::EngineRunning, "{error}");
    assert!(
        error
            .message
            .contains(&format!("(pid {}", std::process::id())),
        "{error}"
    );

    let mut console = Console::open(&data).unwrap();
    let engine = console.overview().engine;
    assert!(!engine.running);
    assert!(
        engine.another_engine,
        "the console offers to manage that server"
    );
    assert!(
        engine
            .error
            .as_deref()
            .is_some_and(|error| error.contains("is already served by")),
        "{engine:?}"
    );
    console
        .apply(|local| {
            local.create_tenant(&TenantForm {
                team_id: "beside".to_owned(),
                ..TenantForm::default()
            })
        })
        .unwrap();

    // Once the other engine has stopped, the console's starts (here on a settings change).
    serving.shutdown_ledger().unwrap();
    drop(serving);
    let overview = console.set_gateway_port(0).unwrap();
    assert!(overview.engine.running, "{:?}", overview.engine);
    assert!(!overview.engine.another_engine);
}
