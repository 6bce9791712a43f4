//! Times the release console (tauri-driver + WebKitWebDriver under X): from launch to a usable
//! Tenants screen, and switching to Costs over a year of 100 tenants × 10 models, measured inside
//! the page from the click to the charts and table on screen (and back to Tenants).
//!
//!   cargo build --release -p tollgate-console && cargo bench -p tollgate-e2e --bench console
//!
//! `TOLLGATE_CONSOLE_BIN` picks another binary; `RUNS` the number of launches (default 5).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use tollgate_e2e::Console;

/// Clicks the navigation button `arguments[0]` and resolves with the milliseconds until the
/// screen is complete in the page (`arguments[1]`: each CSS selector matches at least its count)
/// and the next animation frame has begun, plus when the click handler returned and when the
/// screen was in the DOM. (The page's CSP forbids `eval`, hence selectors, not a JS check.)
const SWITCH: &str = r"
const [label, wanted, done] = arguments;
const ready = () => wanted.every(([selector, count]) => document.querySelectorAll(selector).length >= count);
const start = performance.now();
[...document.querySelectorAll('nav button')].find((b) => b.textContent.trim() === label).click();
const clicked = performance.now() - start;
const poll = () => {
  if (!ready()) return setTimeout(poll, 1);
  const inDom = performance.now() - start;
  requestAnimationFrame(() => done([performance.now() - start, inDom, clicked]));
};
poll();
";

/// Resolves once the screen is complete (`arguments[0]` as in `SWITCH`) and two animation frames
/// have begun, so the first of them has been painted.
const SETTLED: &str = r"
const [wanted, done] = arguments;
const ready = () => wanted.every(([selector, count]) => document.querySelectorAll(selector).length >= count);
const poll = () => ready() ? requestAnimationFrame(() => requestAnimationFrame(() => done(null))) : setTimeout(poll, 5);
poll();
";

/// The Costs screen is complete: the total, the three charts and the table's first page.
const COSTS_READY: &[(&str, u32)] = &[
    ("[data-testid=total]", 1),
    (".chart svg", 3),
    ("table[aria-label^=Costs] tbody tr", 1),
];

/// The Tenants screen is complete: every tenant's row with this month's spend.
const TENANTS_READY: &[(&str, u32)] = &[("table[aria-label=Tenants] tbody tr", 100)];

/// The `cost_screen` command alone (IPC, the backend and the JSON), as the Costs screen first asks
/// it: this month, everyone.
const COST_SCREEN_COMMAND: &str = r"
const done = arguments[arguments.length - 1];
const start = performance.now();
window.__TAURI_INTERNALS__
  .invoke('cost_screen', { preset: { preset: 'this_month' }, scope: { cost_center: null, team_id: null, model_id: null, by_cost_center: false }, theme: 'light' })
  .then(() => done(performance.now() - start), (error) => done(-1));
";

const SWITCHES_PER_LAUNCH: usize = 3;

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
    let mut costs = Switches::default();
    let mut tenants = Switches::default();
    let mut commands = Vec::new();
    runtime.block_on(async {
        for _ in 0..runs {
            let (console, launch) =
                Console::launch_binary(&binary, &data, &dir.path().join("shots"), &[]).await;
            launches.push(launch.as_secs_f64() * 1000.0);
            // The first screen finishes (all its rows, painted) before the first switch is timed.
            console
                .client
                .execute_async(SETTLED, vec![serde_json::json!(TENANTS_READY)])
                .await
                .unwrap();
            for _ in 0..SWITCHES_PER_LAUNCH {
                costs.time(&console, "Costs", COSTS_READY).await;
                let command = console
                    .client
                    .execute_async(COST_SCREEN_COMMAND, vec![])
                    .await
                    .unwrap();
                let command = command.as_f64().unwrap();
                assert!(command >= 0.0, "the cost_screen command failed");
                commands.push(command);
                tenants
                    .time(&console, "Tenants & keys", TENANTS_READY)
                    .await;
            }
            console.close().await;
        }
    });
    launches.sort_by(f64::total_cmp);
    commands.sort_by(f64::total_cmp);
    println!(
        "launch to usable Tenants screen: median {:.0} ms, max {:.0} ms ({} launches, {})",
        percentile(&launches, 0.5),
        launches[launches.len() - 1],
        launches.len(),
        binary.display()
    );
    costs.report("switch to Costs (year, 100 tenants x 10 models)");
    println!(
        "  of which the cost_screen command (IPC + backend + JSON): median {:.0} ms, p90 {:.0} ms",
        percentile(&commands, 0.5),
        percentile(&commands, 0.9)
    );
    tenants.report("switch back to Tenants (100 rows with this month's spend)");
}

/// Times of one kind of switch, in milliseconds after the click.
#[derive(Default)]
struct Switches {
    frame: Vec<f64>,
    in_dom: Vec<f64>,
    clicked: Vec<f64>,
    /// The frame times of the first switch after each launch.
    first: Vec<f64>,
}

impl Switches {
    async fn time(&mut self, console: &Console, label: &str, ready: &[(&str, u32)]) {
        let times = console
            .client
            .execute_async(SWITCH, vec![label.into(), serde_json::json!(ready)])
            .await
            .unwrap();
        let times: Vec<f64> = times
            .as_array()
            .unwrap()
            .iter()
            .map(|time| time.as_f64().unwrap())
            .collect();
        if self.frame.len().is_multiple_of(SWITCHES_PER_LAUNCH) {
            self.first.push(times[0]);
        }
        self.frame.push(times[0]);
        self.in_dom.push(times[1]);
        self.clicked.push(times[2]);
    }

    fn report(&mut self, what: &str) {
        for times in [
            &mut self.frame,
            &mut self.in_dom,
            &mut self.clicked,
            &mut self.first,
        ] {
            times.sort_by(f64::total_cmp);
        }
        println!(
            "{what}: median {:.0} ms, p90 {:.0} ms, max {:.0} ms ({} switches; median click handler {:.0} ms, in the DOM {:.0} ms)",
            percentile(&self.frame, 0.5),
            percentile(&self.frame, 0.9),
            self.frame[self.frame.len() - 1],
            self.frame.len(),
            percentile(&self.clicked, 0.5),
            percentile(&self.in_dom, 0.5),
        );
        println!(
            "  the first after each launch: median {:.0} ms, max {:.0} ms",
            percentile(&self.first, 0.5),
            self.first[self.first.len() - 1]
        );
    }
}
