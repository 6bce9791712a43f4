//! Load benchmark of `tollgate serve`: the same non-streaming chat requests sent straight to a
//! zero-delay mock OpenAI upstream and through the gateway (auth, limits, metering and the ledger
//! all on), at fixed open-loop rates; then streaming time to first token; the gateway's RSS; and
//! ledger rows against 200 answers. Everything runs on this machine over loopback.
//!
//! ```text
//! cargo bench -p tollgate-cli --bench gateway_load
//! # where slow calls come from: what every thread did in each window of them
//! TOLLGATE_LOAD_STALLS=1 TOLLGATE_LOAD_RATES=5000 TOLLGATE_LOAD_SECONDS=30 cargo bench -p tollgate-cli --bench gateway_load
//! TOLLGATE_LOAD_SECONDS=5 TOLLGATE_LOAD_WORKERS=1 TOLLGATE_LOAD_LEDGER_MS=20 cargo bench -p tollgate-cli --bench gateway_load
//! # A/B: two builds (or one build, two settings) side by side, taking turns under the same load
//! TOLLGATE_LOAD_BIN=/tmp/before TOLLGATE_LOAD_BIN_B=/tmp/after cargo bench -p tollgate-cli --bench gateway_load
//! TOLLGATE_LOAD_BIN_B=target/release/tollgate TOLLGATE_LOAD_B_SERVER="worker_threads = 1" cargo bench -p tollgate-cli --bench gateway_load
//! # further floors: a bare proxy on one thread (reqwest), and one on hyper's connection API
//! TOLLGATE_LOAD_BARE_ONE_THREAD=1 TOLLGATE_LOAD_BARE_HYPER=1 cargo bench -p tollgate-cli --bench gateway_load
//! ```
//!
//! Besides latency it prints the CPU each process spends a call (all threads, from /proc), which
//! varies far less from run to run on a shared VM than latency percentiles do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::too_many_lines
)]

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

mod bare_proxy;
mod generator;
mod stalls;

use bare_proxy::{bare_proxy, start_bare_proxy};
use generator::{Target, open_loop};
use stalls::SlowCall;

const PROMPT: &str = "Summarise the quarterly cost report in one sentence.";

async fn mock_chat(Json(body): Json<Value>) -> Response {
    if body["stream"] == true {
        let text = format!(
            "data: {}\n\ndata: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": "Costs"}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": " rose."}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}}),
        );
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(text))
            .unwrap();
    }
    Json(json!({
        "id": "x", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Costs rose by four percent."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7}
    }))
    .into_response()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Run {
    latencies_ms: Vec<f64>,
    ok: usize,
    errors: usize,
    /// What went wrong with the failed calls, and how often.
    failures: std::collections::BTreeMap<String, usize>,
    achieved_rps: f64,
    segments: usize,
    /// Calls slower than [`stalls::SLOW_MS`].
    slow: Vec<SlowCall>,
}

impl Run {
    /// Pools another segment of the same path into this one.
    fn add(&mut self, segment: Run) {
        self.latencies_ms.extend(segment.latencies_ms);
        self.latencies_ms.sort_by(f64::total_cmp);
        self.slow.extend(segment.slow);
        self.ok += segment.ok;
        self.errors += segment.errors;
        for (failure, count) in segment.failures {
            *self.failures.entry(failure).or_insert(0) += count;
        }
        // The mean of the segments' rates.
        self.achieved_rps = (self.achieved_rps * self.segments as f64 + segment.achieved_rps)
            / (self.segments + 1) as f64;
        self.segments += 1;
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used, in ticks of `1 / CLK_TCK` s, over all its
/// threads, living and ended, and the part of it used by the thread named `thread` if any.
fn cpu_ticks(pid: u32, thread: &str) -> (u64, u64) {
    let total = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(0, |stat| stalls::stat_ticks(&stat));
    let named = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim() == thread)
        })
        .map(|task| {
            std::fs::read_to_string(task.path().join("stat"))
                .map_or(0, |stat| stalls::stat_ticks(&stat))
        })
        .sum();
    (total, named)
}

/// Clock ticks a second (`getconf CLK_TCK`): 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

fn tollgate(data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env("TOLLGATE_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tollgate {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn main() {
    if let Ok(upstream) = std::env::var("TOLLGATE_LOAD_PROXY_TO") {
        return bare_proxy(&upstream);
    }
    let seconds: u64 = std::env::var("TOLLGATE_LOAD_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10);
    // The mock upstream on its own single-threaded runtime.
    let mock_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock_address = mock_runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                Router::new().route("/v1/chat/completions", post(mock_chat)),
            )
            .await
            .unwrap();
        });
        address
    });

    let data = tempfile::tempdir().unwrap();
    let write_config = |dir: &std::path::Path, extra: &str| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let knobs = std::env::var("TOLLGATE_LOAD_WORKERS")
            .map(|threads| format!("worker_threads = {threads}\n"))
            .unwrap_or_default()
            + &std::env::var("TOLLGATE_LOAD_LEDGER_MS")
                .map(|window| format!("ledger_commit_ms = {window}\n"))
                .unwrap_or_default()
            + extra;
        std::fs::write(
            dir.join("tollgate.toml"),
            format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{knobs}\n[[models]]\nid = \"bench-model\"\nbase_url = \"http://{mock_address}/v1\"\nprice_as = \"anthropic.claude-3-haiku-20240307-v1:0\"\n"),
        )
        .unwrap();
        port
    };
    let port = write_config(data.path(), "");
    // Limits that are all checked on every call but never reached.
    tollgate(
        data.path(),
        &[
            "tenant",
            "create",
            "bench",
            "--rate",
            "1000000/s",
            "--burst",
            "1000000",
            "--quota",
            "100000000/month",
            "--tpm",
            "1000000000",
            "--budget",
            "1000000",
            "--budget-mode",
            "hard",
        ],
    );
    let key: Value = serde_json::from_str(&tollgate(
        data.path(),
        &["--json", "key", "create", "bench"],
    ))
    .unwrap();
    let secret = key["secret"].as_str().unwrap().to_owned();
    let start_gateway = |binary: String, dir: &std::path::Path| {
        Gateway(
            Command::new(binary)
                .arg("serve")
                .env("TOLLGATE_DATA_DIR", dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    // TOLLGATE_LOAD_BIN runs another build of the gateway; TOLLGATE_LOAD_BIN_B runs a second
    // build (or the same with other settings) beside it (its own copy of the data directory and port), taking turns with the first,
    // so an A/B trial sees the same moments of this machine.
    let second = std::env::var("TOLLGATE_LOAD_BIN_B").ok().map(|binary| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            data.path().join("tollgate.db"),
            dir.path().join("tollgate.db"),
        )
        .unwrap();
        // TOLLGATE_LOAD_B_SERVER: lines for the second gateway's [server] table only.
        let port = write_config(
            dir.path(),
            &std::env::var("TOLLGATE_LOAD_B_SERVER")
                .map(|lines| lines + "\n")
                .unwrap_or_default(),
        );
        (start_gateway(binary, dir.path()), port, dir)
    });
    let gateway = start_gateway(
        std::env::var("TOLLGATE_LOAD_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tollgate").to_owned()),
        data.path(),
    );
    let pid = gateway.0.id();
    let (proxy, proxy_port) = start_bare_proxy(mock_address, false, false);
    // TOLLGATE_LOAD_BARE_ONE_THREAD adds a bare proxy on one thread as a further path.
    let lean = std::env::var_os("TOLLGATE_LOAD_BARE_ONE_THREAD")
        .map(|_| start_bare_proxy(mock_address, true, false));
    // TOLLGATE_LOAD_BARE_HYPER adds a one-thread bare proxy on hyper's connection API.
    let lean_hyper = std::env::var_os("TOLLGATE_LOAD_BARE_HYPER")
        .map(|_| start_bare_proxy(mock_address, true, true));

    let load_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    load_runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(512).tcp_nodelay(true).build().unwrap();
        for port in std::iter::once(port).chain(second.as_ref().map(|(_, port, _)| *port)) {
            let health = format!("http://127.0.0.1:{port}/healthz");
            for _ in 0..200 {
                if client.get(&health).send().await.is_ok_and(|response| response.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let body = Bytes::from(json!({"model": "bench-model", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}).to_string());
        let auth = vec![("authorization", format!("Bearer {secret}"))];
        let no_headers: Vec<(&str, String)> = Vec::new();
        let chat = "/v1/chat/completions";
        let mut paths = vec![
            ("direct", Target::new(&format!("http://{mock_address}{chat}"), &no_headers)),
            ("bare proxy", Target::new(&format!("http://127.0.0.1:{proxy_port}{chat}"), &no_headers)),
            ("gateway", Target::new(&format!("http://127.0.0.1:{port}{chat}"), &auth)),
        ];
        if let Some((_, port, _)) = &second {
            paths.push(("gateway B", Target::new(&format!("http://127.0.0.1:{port}{chat}"), &auth)));
        }
        // Whose CPU each path spends besides the mock's and the load generator's.
        let mut pids = vec![None, Some(proxy.0.id()), Some(pid)];
        if let Some((gateway_b, _, _)) = &second {
            pids.push(Some(gateway_b.0.id()));
        }
        if let Some((lean, port)) = &lean {
            paths.push(("bare proxy, 1 thread", Target::new(&format!("http://127.0.0.1:{port}{chat}"), &no_headers)));
            pids.push(Some(lean.0.id()));
        }
        if let Some((lean, port)) = &lean_hyper {
            paths.push(("bare proxy, 1 thread, hyper", Target::new(&format!("http://127.0.0.1:{port}{chat}"), &no_headers)));
            pids.push(Some(lean.0.id()));
        }
        // Warm every path (connections, caches, first-sight baselines).
        let mut gateway_ok = 0;
        for (name, target) in &paths {
            let warm_up = open_loop(target, &body, 500, 500, false).await;
            if *name == "gateway" {
                gateway_ok += warm_up.ok;
            }
        }

        let mut peak_rss = 0;
        println!("method: open-loop fixed-rate load, {seconds} s per path and rate, the paths taking turns in 0.5 s segments (each after 50 ms unmeasured); latency = request sent to body read, loopback; added = path percentile - direct percentile");
        println!("| rate (req/s) | path | achieved req/s | errors | p50 ms | p90 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|---|---|---|");
        // TOLLGATE_LOAD_RATES: other rates than the issue's two, e.g. "5000" to hunt stalls.
        let rates: Vec<u32> = std::env::var("TOLLGATE_LOAD_RATES").map_or_else(
            |_| vec![1_000, 5_000],
            |rates| rates.split(',').map(|rate| rate.trim().parse().expect("TOLLGATE_LOAD_RATES: numbers")).collect(),
        );
        for rate in rates {
            // Half-second turns: drift in this shared VM's speed (other tenants, CPU frequency)
            // falls on every path alike.
            let rounds = seconds * 2;
            let sampler = tokio::spawn(async move {
                let mut peak = 0;
                for _ in 0..(rounds * 5) {
                    peak = peak.max(rss_kib(pid));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                peak
            });
            // TOLLGATE_LOAD_STALLS: watch every process's threads to explain the slow calls.
            let probe = std::env::var_os("TOLLGATE_LOAD_STALLS").map(|_| {
                let mut processes: Vec<(String, u32)> = paths
                    .iter()
                    .zip(&pids)
                    .filter_map(|((name, _), pid)| pid.map(|pid| ((*name).to_owned(), pid)))
                    .collect();
                processes.push(("bench".to_owned(), std::process::id()));
                stalls::Probe::start(processes)
            });
            let mut runs: Vec<Run> = paths.iter().map(|_| Run::default()).collect();
            let bench_before = cpu_ticks(std::process::id(), "").0;
            let cpu_before: Vec<(u64, u64)> = pids.iter().map(|pid| pid.map_or((0, 0), |pid| cpu_ticks(pid, "tollgate-ledger"))).collect();
            let mut sent = vec![0usize; paths.len()];
            for _ in 0..rounds {
                for (((name, target), run), sent) in paths.iter().zip(&mut runs).zip(&mut sent) {
                    // Each turn begins with 50 ms unmeasured, so no path pays for the caches
                    // the previous one left cold.
                    let warm = open_loop(target, &body, rate, u64::from(rate / 20), false).await;
                    if *name == "gateway" {
                        gateway_ok += warm.ok;
                    }
                    let measured = open_loop(target, &body, rate, u64::from(rate / 2), false).await;
                    *sent += warm.ok + warm.errors + measured.ok + measured.errors;
                    run.add(measured);
                }
            }
            // CPU a call costs each process (all its threads, warm-up calls included): unlike
            // latency percentiles, steady from run to run on this shared VM.
            let mut cpu_line = format!("CPU per call at {rate} req/s (µs):");
            for ((((name, _), pid), before), sent) in paths.iter().zip(&pids).zip(&cpu_before).zip(&sent) {
                if let Some(pid) = pid {
                    let (total, ledger) = cpu_ticks(*pid, "tollgate-ledger");
                    let per_call = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1e6 / *sent as f64;
                    let _ = write!(cpu_line, " {name} {:.0}", per_call(total - before.0));
                    if name.starts_with("gateway") {
                        let _ = write!(cpu_line, " (ledger thread {:.0})", per_call(ledger - before.1));
                    }
                    cpu_line += ";";
                }
            }
            // The bench process: the mock upstream (for every path) and the load generator.
            let all_sent: usize = sent.iter().sum();
            let _ = write!(cpu_line, " bench (mock + generator, every path's calls) {:.0}", (cpu_ticks(std::process::id(), "").0 - bench_before) as f64 / TICKS_PER_SECOND * 1e6 / all_sent as f64);
            println!("{cpu_line}");
            let opened: Vec<String> = paths.iter().map(|(name, target)| format!("{name} {} ({} found closed when reused)", target.connections_opened(), target.reconnects())).collect();
            println!("connections opened by the generator so far: {}", opened.join(", "));
            peak_rss = peak_rss.max(sampler.await.unwrap());
            let samples = probe.map(stalls::Probe::stop);
            let names: Vec<&str> = paths.iter().map(|(name, _)| *name).collect();
            let slow: Vec<&[SlowCall]> = runs.iter().map(|run| run.slow.as_slice()).collect();
            println!("{}", stalls::report(&names, &slow, samples.as_ref()));
            gateway_ok += runs[2].ok;
            for ((name, _), run) in paths.iter().zip(&runs) {
                for (failure, count) in &run.failures {
                    println!("failed calls, {name}: {count} x {failure}");
                }
            }
            for ((name, _), run) in paths.iter().zip(&runs) {
                let sorted = &run.latencies_ms;
                println!(
                    "| {rate} | {name} | {:.0} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    run.achieved_rps,
                    run.errors,
                    percentile(sorted, 50.0),
                    percentile(sorted, 90.0),
                    percentile(sorted, 99.0),
                    sorted.last().copied().unwrap_or(f64::NAN)
                );
            }
            let direct = &runs[0].latencies_ms;
            for ((name, _), run) in paths.iter().zip(&runs).skip(1) {
                let added = |p| percentile(&run.latencies_ms, p) - percentile(direct, p);
                let bold = if *name == "gateway" { "**" } else { "" };
                println!(
                    "| {rate} | {bold}{name} added{bold} | | | {bold}{:.3}{bold} | {:.3} | {bold}{:.3}{bold} | |",
                    added(50.0),
                    added(90.0),
                    added(99.0),
                );
            }
        }

        let streaming = Bytes::from(json!({"model": "bench-model", "messages": [{"role": "user", "content": PROMPT}], "stream": true, "stream_options": {"include_usage": true}}).to_string());
        let mut ttft: Vec<Run> = paths.iter().map(|_| Run::default()).collect();
        for _ in 0..seconds * 2 {
            for ((name, target), run) in paths.iter().zip(&mut ttft) {
                if !name.starts_with("bare proxy") {
                    let warm = open_loop(target, &streaming, 1_000, 50, true).await;
                    if *name == "gateway" {
                        gateway_ok += warm.ok;
                    }
                    run.add(open_loop(target, &streaming, 1_000, 500, true).await);
                }
            }
        }
        gateway_ok += ttft[2].ok;
        println!();
        for ((name, _), run) in paths.iter().zip(&ttft).skip(2).filter(|((name, _), _)| !name.starts_with("bare proxy")) {
            let (direct, through) = (&ttft[0].latencies_ms, &run.latencies_ms);
            println!("streaming at 1000 req/s, time to first token (ms), {name}: direct p50 {:.3} p99 {:.3}; {name} p50 {:.3} p99 {:.3}; added p50 {:.3} p99 {:.3}",
                percentile(direct, 50.0), percentile(direct, 99.0),
                percentile(through, 50.0), percentile(through, 99.0),
                percentile(through, 50.0) - percentile(direct, 50.0),
                percentile(through, 99.0) - percentile(direct, 99.0));
        }
        println!("gateway peak RSS under load: {:.1} MB", peak_rss as f64 / 1024.0);

        // Stop the gateway as an operator would, then count the ledger.
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        for _ in 0..100 {
            if std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |status| status.contains("State:\tZ")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let info: Value = serde_json::from_str(&tollgate(data.path(), &["--json", "db", "info"])).unwrap();
        println!("ledger rows: {} for {gateway_ok} answers with status 200", info["ledger_rows"]);
    });
    drop(gateway);
    drop(second);
    drop(lean);
    drop(lean_hyper);
    drop(proxy);
}
