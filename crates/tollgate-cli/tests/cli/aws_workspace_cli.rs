//! `tollgate --workspace NAME ...` against a real moto server holding a deployment shaped like
//! the reference CDK app builds it (support/stack.rs): the workspace added from the parent stack's
//! outputs, every team as a tenant, what a stack owns guarded, keys, the connection check, report
//! sync and reports from the workspace cache.

use crate::cloudformation;
use crate::common;
use crate::moto;
use crate::stack;

use common::{Cli, aws_test_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_is_managed_from_the_command_line() {
    let moto = moto::start();
    let deployment = stack::reference_deployment(&moto).await;
    let api_id = deployment.workspace.rest_api_id.clone();
    cloudformation::parent_stack(&moto, stack::PREFIX, &api_id).await;
    let cli = Cli::new();
    std::fs::write(cli.path("tollgate.toml"), "# my models\n").unwrap();
    let env = aws_test_env(&cli, true);

    // Added from the parent stack's outputs; the rest of tollgate.toml is kept.
    let added = cli
        .run_with(
            &[
                "workspace",
                "add",
                "unit1",
                "--stack-prefix",
                "unit1",
                "--region",
                "us-east-1",
                "--endpoint-url",
                &moto.url,
            ],
            &env,
        )
        .ok()
        .stdout;
    assert!(
        added.contains("stack unit1-bedrock-saas") && added.contains("unit1_prod"),
        "{added}"
    );
    let config = std::fs::read_to_string(cli.path("tollgate.toml")).unwrap();
    assert!(config.starts_with("# my models\n"), "{config}");
    assert!(
        config.contains("[workspaces.unit1]") && config.contains(&api_id),
        "{config}"
    );
    let again = cli
        .run_with(
            &[
                "workspace",
                "add",
                "unit1",
                "--stack-prefix",
                "unit1",
                "--region",
                "us-east-1",
            ],
            &env,
        )
        .fails()
        .stderr;
    assert!(again.contains("already has a workspace 'unit1'"), "{again}");
    let missing = cli
        .run_with(
            &[
                "workspace",
                "add",
                "unit9",
                "--stack-prefix",
                "unit9",
                "--region",
                "us-east-1",
                "--endpoint-url",
                &moto.url,
            ],
            &env,
        )
        .fails()
        .stderr;
    assert!(missing.contains("no stack unit9-bedrock-saas"), "{missing}");

    let env = aws_test_env(&cli, true);
    let run = |args: &[&str]| {
        let mut full = vec!["--workspace", "unit1"];
        full.extend_from_slice(args);
        cli.run_with(&full, &env)
    };

    let listed = cli.run(&["workspace", "list"]).ok().stdout;
    assert!(
        listed.contains(&api_id) && listed.contains("unit1_prod"),
        "{listed}"
    );
    let check = run(&["workspace", "check"]).ok().stdout;
    assert!(
        check.lines().filter(|line| line.starts_with("ok")).count() >= 6,
        "{check}"
    );
    assert!(!check.contains("not found"), "{check}");

    // Every team stack is a tenant, with its stage's throttle and its stack.
    let table = run(&["tenant", "list"]).ok().stdout;
    for team in stack::TEAMS {
        assert!(table.contains(&format!("{team}-bedrock-saas")), "{table}");
    }
    let team2 = run(&["--json", "tenant", "show", "team2"]).ok().json();
    assert_eq!(team2["tenant"]["rate"]["requests"], 200, "{team2}");
    assert_eq!(team2["tenant"]["rate_source"], "stage", "{team2}");
    assert_eq!(
        team2["keys"][0]["key_id"],
        deployment.key_id("team2"),
        "{team2}"
    );
    let refused = run(&["tenant", "update", "team2", "--rate", "300/s"])
        .fails()
        .stderr;
    assert!(
        refused.contains("team2-bedrock-saas") && refused.contains("--force"),
        "{refused}"
    );
    let refused = run(&["tenant", "delete", "team1", "--yes"]).fails().stderr;
    assert!(refused.contains("team1-bedrock-saas"), "{refused}");
    let forced = run(&[
        "--json", "tenant", "update", "team2", "--rate", "300/s", "--burst", "150", "--force",
    ])
    .ok()
    .json();
    assert_eq!(forced["tenant"]["rate"]["requests"], 300, "{forced}");

    run(&[
        "tenant",
        "create",
        "team-x",
        "--name",
        "Team X",
        "--cost-center",
        "CC-1",
        "--rate",
        "10/s",
        "--quota",
        "1000/month",
    ])
    .ok();
    let tenants = run(&["--json", "tenant", "list"]).ok().json();
    let teams: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["team_id"].as_str().unwrap())
        .collect();
    assert_eq!(teams, ["team-x", "team1", "team2", "unit1"]);
    let refused = run(&["tenant", "update", "team-x", "--tpm", "5000"])
        .fails()
        .stderr;
    assert!(refused.contains("--tpm is not available"), "{refused}");
    let refused = run(&["tenant", "update", "team-x", "--name", "Renamed"])
        .fails()
        .stderr;
    assert!(refused.contains("only the rate"), "{refused}");
    // A budget is Tollgate's own: a stack's tenant takes one without --force.
    let budgeted = run(&[
        "--json",
        "tenant",
        "update",
        "team1",
        "--budget",
        "0.005",
        "--budget-mode",
        "hard",
    ])
    .ok()
    .json();
    assert_eq!(budgeted["budget"]["monthly"], "0.005", "{budgeted}");
    assert_eq!(budgeted["budget"]["enforcement"], "hard", "{budgeted}");
    assert_eq!(
        budgeted["tenant"]["rate"]["requests"], 10000,
        "the stage is untouched"
    );
    let removed = run(&["--json", "tenant", "update", "team1", "--no-budget"])
        .ok()
        .json();
    assert!(removed["budget"].is_null(), "{removed}");
    let again = run(&[
        "--json",
        "tenant",
        "update",
        "team1",
        "--budget",
        "0.005",
        "--budget-mode",
        "hard",
    ])
    .ok()
    .json();
    assert_eq!(again["budget"]["monthly"], "0.005", "{again}");
    let updated = run(&[
        "--json", "tenant", "update", "team-x", "--rate", "20/s", "--burst", "40",
    ])
    .ok()
    .json();
    assert_eq!(updated["tenant"]["rate"]["requests"], 20);
    assert_eq!(
        updated["tenant"]["quota"]["requests"], 1000,
        "the quota stays"
    );

    let created = run(&["--json", "key", "create", "team-x", "--name", "svc"])
        .ok()
        .json();
    let key_id = created["key"]["key_id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().len() >= 20);
    let rotated = run(&["--json", "key", "rotate", &key_id, "--grace", "1h"])
        .ok()
        .json();
    assert_eq!(rotated["replaces"], key_id.as_str());
    let keys = run(&["--json", "key", "list", "--team", "team-x"])
        .ok()
        .json();
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|key| key["enabled"] == true)
    );

    let synced = run(&["--json", "usage", "sync"]).ok().json();
    assert_eq!(synced["reports"]["fetched"], 3, "{synced}");
    // team1 spent $0.00857 on the first report day: blocked if that day is in this month.
    let first_in_month = deployment.report_days[0].format("%Y-%m").to_string()
        == chrono::Utc::now().format("%Y-%m").to_string();
    let blocked: Vec<&str> = synced["budgets"]["blocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|team| team.as_str().unwrap())
        .collect();
    assert_eq!(
        blocked,
        if first_in_month {
            vec!["team1"]
        } else {
            vec![]
        },
        "{synced}"
    );
    let keys = run(&["--json", "key", "list", "--team", "team1"])
        .ok()
        .json();
    assert_eq!(keys[0]["enabled"], !first_in_month, "{keys}");
    assert_eq!(synced["today"]["lines"], 0, "{synced}");
    let again = run(&["--json", "usage", "sync", "--no-logs"]).ok().json();
    assert_eq!(again["reports"]["unchanged"], 3, "{again}");
    let [first, second] = deployment.report_days.map(|day| day.to_string());
    let report = run(&[
        "--json",
        "report",
        "--from",
        &first,
        "--to",
        &second,
        "--group-by",
        "tenant",
    ])
    .ok()
    .json();
    let rows = report
        .as_array()
        .unwrap_or_else(|| report["rows"].as_array().unwrap());
    let mut costs: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            (
                row["team_id"].as_str().unwrap().to_owned(),
                row["total_cost"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    costs.sort();
    assert_eq!(
        costs,
        [
            ("team1".to_owned(), "0.00857".to_owned()),
            ("team2".to_owned(), "0.05125".to_owned()),
            ("unit1".to_owned(), "0.000035".to_owned()),
            ("unknown".to_owned(), "0.0000375".to_owned()),
        ],
        "{report}"
    );
    let labels = run(&[
        "report",
        "--from",
        &first,
        "--to",
        &first,
        "--group-by",
        "tenant,label",
        "--team",
        "team1",
    ])
    .ok()
    .stdout;
    assert!(
        labels.contains("LABEL") && labels.contains("marketing"),
        "{labels}"
    );
    let marketing = run(&[
        "--json",
        "report",
        "--from",
        &first,
        "--to",
        &second,
        "--group-by",
        "tenant",
        "--label",
        "marketing",
    ])
    .ok()
    .json();
    assert_eq!(
        marketing["rows"].as_array().unwrap().len(),
        1,
        "{marketing}"
    );
    assert_eq!(marketing["rows"][0]["team_id"], "team1", "{marketing}");
    assert_eq!(marketing["total_cost"], "0.001", "{marketing}");
    let local = cli
        .run(&["report", "--group-by", "tenant,label"])
        .fails()
        .stderr;
    assert!(local.contains("AWS workspaces only"), "{local}");
    assert!(cli.path("workspaces/unit1.db").exists());
    stack::assert_no_key_value_under(&cli.path("workspaces"), &deployment);

    run(&["tenant", "delete", "team-x"]).fails();
    run(&["tenant", "delete", "team-x", "--yes"]).ok();
    let unknown = cli
        .run_with(&["--workspace", "staging", "tenant", "list"], &env)
        .fails()
        .stderr;
    assert!(
        unknown.contains("no workspace 'staging'") && unknown.contains("unit1"),
        "{unknown}"
    );
}
