//! Times the release console (tauri-driver + WebKitWebDriver under X): from launch to a usable
//! Tenants screen, and switching to Costs over a year of 100 tenants × 10 models, measured inside
//! the page from the click to the charts and table on screen.
//!
//!   cargo build --release -p tollgate-console && cargo bench -p tollgate-e2e --bench console
//!
//! `TOLLGATE_CONSOLE_BIN` picks another binary; `RUNS` the number of launches (default 5).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use tollgate_e2e::Console;

/// Clicks Costs and resolves with the milliseconds until the total, the three charts and the
/// table are in the page.
const SWITCH_TO_COSTS: &str = r"
const done = arguments[arguments.length - 1];
const start = performance.now();
const nav = [...document.querySelectorAll('nav button')].find((b) => b.textContent.trim() === 'Costs');
nav.click();
const ready = () => document.querySelector('[data-testid=total]')
  && document.querySelectorAll('.chart svg').length === 3
  && document.querySelector('table[aria-label^=Costs] tbody tr');
const poll = () => ready() ? requestAnimationFrame(() => done(performance.now() - start)) : setTimeout(poll, 1);
poll();
";

/// The `cost_screen` command alone (IPC, the backend and the JSON), as the Costs screen first asks
/// it: this month, everyone.
const COST_SCREEN_COMMAND: &str = r"
const done = arguments[arguments.length - 1];
const start = performance.now();
window.__TAURI_INTERNALS__
  .invoke('cost_screen', { preset: { preset: 'this_month' }, scope: { cost_center: null, team_id: null, model_id: null, by_cost_center: false }, theme: 'light' })
  .then(() => done(performance.now() - start), (error) => done(-1));
";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let binary = std::env::var_os("TOLLGATE_CONSOLE_BIN").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            exe.parent()
                .and_then(std::path::Path::parent)
                .unwrap()
                .join("tollgate-console")
        },
        PathBuf::from,
    );
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let today = chrono::Local::now().date_naive();
    let seeded = std::time::Instant::now();
    tollgate_e2e::seed::many(&data, today, 100, 10, 365);
    eprintln!(
        "seeded 100 tenants x 10 models x 365 days in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let mut launches = Vec::new();
    let mut switches = Vec::new();
    let mut commands = Vec::new();
    runtime.block_on(async {
        for _ in 0..runs {
            let (console, launch) =
                Console::launch_binary(&binary, &data, &dir.path().join("shots"), &[]).await;
            launches.push(launch.as_secs_f64() * 1000.0);
            for _ in 0..3 {
                let elapsed = console
                    .client
                    .execute_async(SWITCH_TO_COSTS, vec![])
                    .await
                    .unwrap();
                switches.push(elapsed.as_f64().unwrap());
                let command = console
                    .client
                    .execute_async(COST_SCREEN_COMMAND, vec![])
                    .await
                    .unwrap();
                let command = command.as_f64().unwrap();
                assert!(command >= 0.0, "the cost_screen command failed");
                commands.push(command);
                console.button("Tenants & keys").await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            console.close().await;
        }
    });
    launches.sort_by(f64::total_cmp);
    switches.sort_by(f64::total_cmp);
    commands.sort_by(f64::total_cmp);
    println!(
        "launch to usable Tenants screen: median {:.0} ms, max {:.0} ms ({} launches, {})",
        percentile(&launches, 0.5),
        launches[launches.len() - 1],
        launches.len(),
        binary.display()
    );
    println!(
        "switch to Costs (year, 100 tenants x 10 models): median {:.0} ms, p90 {:.0} ms, max {:.0} ms ({} switches)",
        percentile(&switches, 0.5),
        percentile(&switches, 0.9),
        switches[switches.len() - 1],
        switches.len()
    );
    println!(
        "  of which the cost_screen command (IPC + backend + JSON): median {:.0} ms, p90 {:.0} ms",
        percentile(&commands, 0.5),
        percentile(&commands, 0.9)
    );
}
