//! One `Workspace` interface, two implementations: the same screens' actions run on the Local
//! workspace (in process) and on a real `tollgate serve` (over its admin API on loopback) and must
//! give the same answers; a server's refusals keep their codes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tollgate_admin::{
    AdminError, AuditQuery, Console, CostScope, ErrorCode, LocalConsole, PlaygroundRequest,
    PriceForm, RangePreset, Role, ServerWorkspace, TenantForm, TenantRow, TenantSort, Workspace,
    run_playground_with,
};
use tollgate_core::{AdminRole, AdminTokenRequest, Nanos};
use tollgate_testkit::{MockUpstream, Script};

const ADMIN_TOKEN: &str = "server-admin-token-for-tests";

fn models_toml(upstream: &str) -> String {
    format!(
        "[[models]]\nid = \"chat\"\nbase_url = \"{upstream}\"\nprice_as = \"anthropic.claude-v2\"\nmax_retries = 0\n\n\
         [[models]]\nid = \"other\"\nbase_url = \"{upstream}\"\nprice_as = \"anthropic.claude-v2\"\nmax_retries = 0\n"
    )
}

fn local(root: &Path, upstream: &str) -> LocalConsole {
    let data = root.join("local");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("console.toml"), "gateway_port = 0\n").unwrap();
    std::fs::write(data.join("tollgate.toml"), models_toml(upstream)).unwrap();
    LocalConsole::new(Console::open(&data).unwrap())
}

/// A `tollgate serve` (the gateway with its admin API) on a free loopback port; its URL and
/// gateway. With `tls`, it serves HTTPS with a certificate of a CA made here, whose PEM is given.
async fn server(root: &Path, upstream: &str) -> (String, tollgate_gateway::Gateway) {
    server_with(root, upstream, None).await
}

async fn server_with(
    root: &Path,
    upstream: &str,
    tls: Option<&tollgate_testkit::TestCa>,
) -> (String, tollgate_gateway::Gateway) {
    #[derive(serde::Deserialize)]
    struct Models {
        models: Vec<tollgate_gateway::ModelConfig>,
    }
    let models: Models = toml::from_str(&models_toml(upstream)).unwrap();
    let mut config = tollgate_gateway::ServerConfig {
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ..tollgate_gateway::ServerConfig::default()
    };
    if let Some(ca) = tls {
        let issued = ca.issue(&["localhost", "127.0.0.1"]);
        std::fs::write(root.join("cert.pem"), &issued.cert_pem).unwrap();
        std::fs::write(root.join("key.pem"), &issued.key_pem).unwrap();
        config.tls_cert = Some(root.join("cert.pem"));
        config.tls_key = Some(root.join("key.pem"));
    }
    let database = root.join("server.db");
    let gateway = tollgate_gateway::Gateway::start(&database, config, &models.models).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(tollgate_gateway::serve(
        gateway.clone(),
        listener,
        std::future::pending(),
    ));
    let scheme = if tls.is_some() { "https" } else { "http" };
    (format!("{scheme}://localhost:{}", address.port()), gateway)
}

fn alpha_form() -> TenantForm {
    TenantForm {
        team_id: "alpha".into(),
        name: "Team Alpha".into(),
        cost_center: "CC-100".into(),
        rate: "10/s".into(),
        burst: Some(20),
        quota: "1000/month".into(),
        tokens_per_minute: Some(50_000),
        budget: "5".into(),
        hard_budget: true,
        allowed_models: vec!["chat".into()],
    }
}

fn code(result: Result<impl std::fmt::Debug, AdminError>) -> (ErrorCode, String) {
    let error = result.unwrap_err();
    (error.code, error.message)
}

/// What the screens saw, without what differs by nature between two databases (ids, secrets,
/// times): equal for Local and Server.
#[derive(Debug, PartialEq)]
struct Transcript {
    created: Vec<TenantRow>,
    form: TenantForm,
    updated: TenantForm,
    key_statuses: Vec<String>,
    models: Vec<String>,
    cost: Nanos,
    budget_left: Option<Nanos>,
    view_rows: Vec<(String, u64, u64, Nanos)>,
    prices_added: usize,
    recomputed_rows: u64,
    audit_actions: Vec<String>,
    after_delete: usize,
}

async fn screens(workspace: &dyn Workspace) -> Transcript {
    assert_eq!(workspace.session().await.unwrap().role, Role::Admin);
    assert!(
        workspace
            .tenants("", TenantSort::TeamId)
            .await
            .unwrap()
            .is_empty()
    );

    let bad = TenantForm {
        rate: "fast".into(),
        ..alpha_form()
    };
    let (code_, message) = code(workspace.create_tenant(&bad).await);
    assert_eq!(code_, ErrorCode::Invalid, "{message}");
    assert!(message.starts_with("rate:"), "{message}");
    workspace.create_tenant(&alpha_form()).await.unwrap();
    let (again, message) = code(workspace.create_tenant(&alpha_form()).await);
    assert_eq!(again, ErrorCode::Conflict, "{message}");
    workspace
        .create_tenant(&TenantForm {
            team_id: "beta".into(),
            cost_center: "CC-200".into(),
            ..TenantForm::default()
        })
        .await
        .unwrap();
    let created = workspace.tenants("", TenantSort::TeamId).await.unwrap();
    let found = workspace.tenants("cc-2", TenantSort::TeamId).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].team_id, "beta");
    assert_eq!(workspace.tenant_choices().await.unwrap().len(), 2);
    let form = workspace.tenant_form("alpha").await.unwrap();
    workspace
        .update_tenant(&TenantForm {
            rate: String::new(),
            budget: "7".into(),
            ..form.clone()
        })
        .await
        .unwrap();
    let updated = workspace.tenant_form("alpha").await.unwrap();

    let key = workspace.create_key("alpha", "ci").await.unwrap();
    assert!(key.secret.starts_with("tg_"), "{}", key.secret);
    assert_eq!(key.key.name, "ci");
    let rotated = workspace.rotate_key(&key.key.key_id, 0).await.unwrap();
    assert_ne!(rotated.secret, key.secret);
    let spare = workspace.create_key("alpha", "spare").await.unwrap();
    workspace.revoke_key(&spare.key.key_id).await.unwrap();
    assert_eq!(workspace.keys("alpha", false).await.unwrap().len(), 1);
    let mut key_statuses: Vec<String> = workspace
        .keys("alpha", true)
        .await
        .unwrap()
        .into_iter()
        .map(|key| format!("{}:{}", key.name, key.status))
        .collect();
    key_statuses.sort();

    let models = workspace.team_models("alpha").await.unwrap();
    let target = workspace.playground_target("alpha").await.unwrap();
    let again = workspace.playground_target("alpha").await.unwrap();
    assert_eq!(
        (&target.base_url, &target.key),
        (&again.base_url, &again.key),
        "the playground key is reused"
    );
    let mut tokens = String::new();
    let result = run_playground_with(
        &target.client,
        &target.base_url,
        &target.key,
        &PlaygroundRequest {
            model: "chat".into(),
            prompt: "hello".into(),
            ..PlaygroundRequest::default()
        },
        Arc::new(AtomicBool::new(false)),
        &mut |text: &str| tokens.push_str(text),
    )
    .await
    .unwrap();
    assert_eq!(tokens, "Hi there");
    assert!(result.cost > Nanos::ZERO);
    // The server's ledger commits within its window; the budget shows the call once it has.
    let mut budget_left = None;
    for _ in 0..100 {
        budget_left = workspace.budget_left("alpha").await.unwrap();
        if budget_left != Some(Nanos::from_usd(7)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(budget_left, Some(Nanos::from_usd(7) - result.cost));
    let view = workspace
        .cost_view(RangePreset::ThisMonth, &CostScope::default())
        .await
        .unwrap();
    assert_eq!(view.total, result.cost);
    let view_rows = view
        .rows
        .iter()
        .map(|row| {
            (
                row.name.clone(),
                row.input_tokens,
                row.output_tokens,
                row.cost,
            )
        })
        .collect();

    let before = workspace.prices("claude-v2").await.unwrap().len();
    assert!(before > 0);
    let today = view.range.to;
    let (bad_price, message) = code(
        workspace
            .save_price(&PriceForm {
                model_id: "anthropic.claude-v2".into(),
                region: String::new(),
                effective_from: today,
                input_per_1k: "a lot".into(),
                output_per_1k: "1".into(),
            })
            .await,
    );
    assert_eq!(bad_price, ErrorCode::Invalid, "{message}");
    workspace
        .save_price(&PriceForm {
            model_id: "anthropic.claude-v2".into(),
            region: String::new(),
            effective_from: today,
            input_per_1k: "0.01".into(),
            output_per_1k: "0.02".into(),
        })
        .await
        .unwrap();
    let prices_added = workspace.prices("claude-v2").await.unwrap().len() - before;
    let mut reported = Vec::new();
    let recomputed = workspace
        .recompute(
            today,
            today,
            &mut |progress| reported.push(progress.done_days),
            &AtomicBool::new(false),
        )
        .await
        .unwrap();
    assert!(!recomputed.cancelled);

    let audit = workspace.audit(&AuditQuery::default()).await.unwrap();
    let mut audit_actions: Vec<String> = audit
        .entries
        .iter()
        .filter(|line| line.target.contains("alpha") || line.action.starts_with("tenant"))
        .map(|line| line.action.clone())
        .collect();
    audit_actions.sort();
    audit_actions.dedup();
    let revokes = workspace
        .audit(&AuditQuery {
            action: Some("key.revoke".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(revokes.entries.len(), 1, "{revokes:?}");
    let paged = workspace
        .audit(&AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(paged.entries.len(), 2);
    let next = workspace
        .audit(&AuditQuery {
            limit: 2,
            before: paged.next_before,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(next.entries[0].id < paged.entries[1].id);

    workspace.set_tenant_enabled("beta", false).await.unwrap();
    let beta = workspace.tenants("beta", TenantSort::TeamId).await.unwrap();
    assert_eq!(beta[0].status, "disabled");
    let (wrong, _) = code(workspace.delete_tenant("beta", "alpha").await);
    assert_eq!(wrong, ErrorCode::Invalid);
    workspace.delete_tenant("beta", "beta").await.unwrap();
    let (gone, message) = code(workspace.tenant_form("beta").await);
    assert_eq!(gone, ErrorCode::NotFound, "{message}");
    let after_delete = workspace
        .tenants("", TenantSort::TeamId)
        .await
        .unwrap()
        .len();

    Transcript {
        created,
        form,
        updated,
        key_statuses,
        models,
        cost: result.cost,
        budget_left,
        view_rows,
        prices_added,
        recomputed_rows: recomputed.rows,
        audit_actions,
        after_delete,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_server_workspaces_answer_every_screen_alike() {
    let upstream = MockUpstream::start_with(Script::saying(&["Hi", " there"], (1000, 500)))
        .await
        .base_url;
    let dir = tempfile::tempdir().unwrap();
    let on_local = local(dir.path(), &upstream);
    // Over HTTPS, with a CA the console is told to trust (an internal one, made here).
    let ca = tollgate_testkit::TestCa::new("team server test CA");
    let (url, _gateway) = server_with(dir.path(), &upstream, Some(&ca)).await;
    assert!(url.starts_with("https://"), "{url}");
    let untrusting = ServerWorkspace::new(&url, ADMIN_TOKEN, None).unwrap();
    let (untrusted, message) = code(untrusting.session().await);
    assert_eq!(untrusted, ErrorCode::Unavailable, "{message}");
    assert!(message.contains("certificate"), "{message}");
    let on_server = ServerWorkspace::new(&url, ADMIN_TOKEN, Some(ca.cert_pem.as_bytes())).unwrap();

    let local_saw = screens(&on_local).await;
    let server_saw = screens(&on_server).await;
    assert_eq!(local_saw, server_saw);
    // What the transcript holds is what was asked for, not two equal mistakes.
    assert_eq!(local_saw.models, ["chat"]);
    assert_eq!(local_saw.key_statuses, ["ci:active", "spare:revoked"]);
    assert_eq!(local_saw.updated.rate, "");
    assert_eq!(local_saw.updated.budget, "7.00");
    assert_eq!(
        local_saw.form,
        TenantForm {
            budget: "5.00".into(),
            ..alpha_form()
        }
    );
    assert_eq!(local_saw.created[0].rate.as_deref(), Some("10/s burst 20"));
    assert_eq!(local_saw.prices_added, 1);
    assert_eq!(local_saw.recomputed_rows, 1);
    assert_eq!(local_saw.after_delete, 1);
    assert!(
        local_saw
            .audit_actions
            .contains(&"tenant.create".to_owned()),
        "{:?}",
        local_saw.audit_actions
    );

    let status = on_server.status().await.unwrap();
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    assert!(status.https);
    assert_eq!(status.session.role, Role::Admin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_s_refusals_keep_their_codes() {
    let upstream = MockUpstream::start().await.base_url;
    let dir = tempfile::tempdir().unwrap();
    let (url, gateway) = server(dir.path(), &upstream).await;

    let wrong = ServerWorkspace::new(&url, "not-the-token", None).unwrap();
    let (expired, message) = code(wrong.tenants("", TenantSort::TeamId).await);
    assert_eq!(expired, ErrorCode::SessionExpired, "{message}");
    assert!(message.contains("enter a new one"), "{message}");

    let (_, viewer) = gateway
        .with_store(|store| {
            store.create_admin_token(
                AdminRole::Viewer,
                &AdminTokenRequest {
                    cost_centers: vec!["CC-100".into()],
                    ..AdminTokenRequest::default()
                },
            )
        })
        .unwrap();
    let viewing = ServerWorkspace::new(&url, viewer.expose(), None).unwrap();
    let session = viewing.session().await.unwrap();
    assert_eq!(session.role, Role::Viewer);
    assert_eq!(session.cost_centers, Some(vec!["CC-100".to_owned()]));
    let (denied, message) = code(viewing.create_tenant(&alpha_form()).await);
    assert_eq!(denied, ErrorCode::Denied, "{message}");
    assert!(message.contains("role is viewer"), "{message}");
    assert!(
        viewing
            .tenants("", TenantSort::TeamId)
            .await
            .unwrap()
            .is_empty()
    );

    // Nothing listens: a network failure, not a storage one.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let away = ServerWorkspace::new(&format!("http://{closed}"), ADMIN_TOKEN, None).unwrap();
    let (unreachable, message) = code(away.tenants("", TenantSort::TeamId).await);
    assert_eq!(unreachable, ErrorCode::Unavailable, "{message}");
    assert!(message.contains("cannot reach the server"), "{message}");

    for (url, token, names) in [
        ("gateway.example:8787", ADMIN_TOKEN, "http:// or https://"),
        ("ftp://gateway.example", ADMIN_TOKEN, "http:// or https://"),
        ("https://gateway.example", " ", "admin token"),
    ] {
        let (invalid, message) = code(ServerWorkspace::new(url, token, None));
        assert_eq!(invalid, ErrorCode::Invalid);
        assert!(message.contains(names), "{url}: {message}");
    }
    let (invalid, message) = code(ServerWorkspace::new(
        "https://gateway.example",
        ADMIN_TOKEN,
        Some(b"not a certificate"),
    ));
    assert_eq!(invalid, ErrorCode::Invalid);
    assert!(message.contains("PEM"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_server_keeps_its_token_out_of_console_toml_and_readable_by_the_user_only() {
    let upstream = MockUpstream::start().await.base_url;
    let dir = tempfile::tempdir().unwrap();
    let (url, _gateway) = server(dir.path(), &upstream).await;
    let on_local = local(dir.path(), &upstream);
    let data = on_local.lock().data_dir().to_owned();
    let entry = tollgate_admin::ServerEntry {
        name: "team".into(),
        url: url.clone(),
        ca_cert: None,
    };
    let (bad_name, _) = code(on_local.lock().save_server(
        tollgate_admin::ServerEntry {
            name: "team gateway".into(),
            ..entry.clone()
        },
        ADMIN_TOKEN,
    ));
    assert_eq!(bad_name, ErrorCode::Invalid);
    on_local
        .lock()
        .save_server(entry.clone(), ADMIN_TOKEN)
        .unwrap();

    let settings = std::fs::read_to_string(data.join("console.toml")).unwrap();
    assert!(settings.contains(&url), "{settings}");
    assert!(!settings.contains(ADMIN_TOKEN), "{settings}");
    let tokens = tollgate_admin::TokenStore::new(&data);
    assert_eq!(tokens.get("team").unwrap().as_deref(), Some(ADMIN_TOKEN));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(tokens.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // A console opened again finds the server and talks to it with the saved token.
    drop(on_local);
    let reopened = LocalConsole::new(Console::open(&data).unwrap());
    assert_eq!(reopened.lock().servers(), [entry]);
    let team = reopened.lock().server("team").unwrap();
    assert_eq!(team.status().await.unwrap().session.role, Role::Admin);

    reopened.lock().remove_server("team").unwrap();
    assert!(reopened.lock().servers().is_empty());
    assert_eq!(tokens.get("team").unwrap(), None);
    let (gone, _) = code(reopened.lock().server("team"));
    assert_eq!(gone, ErrorCode::NotFound);
}
