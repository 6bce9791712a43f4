//! Where a run's slow calls come from. Calls slower than [`SLOW_MS`] are gathered into windows of
//! time; with `TOLLGATE_LOAD_STALLS=1` a probe thread also samples, every few milliseconds, how late
//! it wakes from a short sleep (the whole machine stalled: the host, steal, every vCPU busy) and
//! each watched thread's CPU time and run-queue wait (`/proc/.../schedstat`), so each window can
//! be told apart: a thread of the gateway hogging a CPU, everything waiting for one, or nothing
//! local at all.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A call at least this slow counts as stalled (the p99 target at 5,000 req/s).
pub const SLOW_MS: f64 = 5.0;

/// The bench's clock origin, shared by the calls' send times and the probe's samples.
pub static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

pub fn since_epoch_ms(at: Instant) -> f64 {
    at.duration_since(*EPOCH).as_secs_f64() * 1000.0
}

/// A call slower than [`SLOW_MS`].
#[derive(Debug, Clone, Copy)]
pub struct SlowCall {
    pub sent_ms: f64,
    pub latency_ms: f64,
}

/// How often the probe samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(4);

struct Sample {
    at_ms: f64,
    /// How much later than asked the probe woke before this sample.
    late_ms: f64,
    /// The machine's busy and stolen time so far (ticks of 10 ms, all CPUs).
    busy_ticks: u64,
    steal_ticks: u64,
    /// Every 25th sample: the CPU ticks so far of each process not watched (pid, name).
    others: Option<Vec<(u32, String, u64)>>,
    /// Every 25th sample: each watched process's open file descriptors (mostly connections).
    descriptors: Option<Vec<usize>>,
    /// CPU time and run-queue wait so far (ns) per watched process and thread name.
    threads: Vec<(String, u64, u64)>,
}

pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
    labels: Vec<String>,
}

/// The samples of a probe that has stopped, and the labels of the processes it watched.
pub struct Samples {
    samples: Vec<Sample>,
    labels: Vec<String>,
}

impl Probe {
    /// Starts sampling the threads of `processes` (a label and a pid each).
    pub fn start(processes: Vec<(String, u32)>) -> Probe {
        let labels = processes.iter().map(|(label, _)| label.clone()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("stall-probe".to_owned())
            .spawn(move || {
                let mut samples = Vec::new();
                let mut asked = Instant::now();
                let watched: Vec<u32> = processes.iter().map(|(_, pid)| *pid).collect();
                while !stopping.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    let (busy, steal) = machine_ticks();
                    let late = now.saturating_duration_since(asked + SAMPLE_EVERY);
                    samples.push(Sample {
                        at_ms: since_epoch_ms(now),
                        late_ms: if samples.is_empty() {
                            0.0
                        } else {
                            late.as_secs_f64() * 1000.0
                        },
                        busy_ticks: busy,
                        steal_ticks: steal,
                        others: (samples.len() % 25 == 0).then(|| other_processes(&watched)),
                        descriptors: (samples.len() % 25 == 0)
                            .then(|| watched.iter().map(|pid| descriptors(*pid)).collect()),
                        threads: processes
                            .iter()
                            .flat_map(|(label, pid)| thread_times(label, *pid))
                            .collect(),
                    });
                    asked = Instant::now();
                    std::thread::sleep(SAMPLE_EVERY);
                }
                samples
            })
            .unwrap();
        Probe {
            stop,
            thread,
            labels,
        }
    }

    pub fn stop(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        Samples {
            samples: self.thread.join().unwrap(),
            labels: self.labels,
        }
    }
}

/// All CPUs' busy ticks (everything but idle and I/O wait) and stolen ticks so far.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let at = |index: usize| fields.get(index).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    (busy, at(7))
}

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// CPU time (user + system, ticks of 10 ms) in a `/proc/.../stat` line. Fields after the command
/// name (which may hold spaces): utime is the 12th.
pub fn stat_ticks(stat: &str) -> u64 {
    stat.rsplit_once(')').map_or(0, |(_, rest)| {
        rest.split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|field| field.parse::<u64>().ok())
            .sum()
    })
}

/// CPU ticks so far of every process (kernel threads included) but the watched ones.
fn other_processes(watched: &[u32]) -> Vec<(u32, String, u64)> {
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        if watched.contains(&pid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some((head, _)), Some(open)) = (stat.rsplit_once(')'), stat.find('(')) else {
            continue;
        };
        processes.push((pid, head[open + 1..].to_owned(), stat_ticks(&stat)));
    }
    processes
}

/// CPU time and run-queue wait (ns) of each thread name in a process, threads of one name summed.
fn thread_times(label: &str, pid: u32) -> Vec<(String, u64, u64)> {
    let mut times: Vec<(String, u64, u64)> = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let (Ok(comm), Ok(schedstat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("schedstat")),
        ) else {
            continue;
        };
        let mut fields = schedstat
            .split_whitespace()
            .map(|field| field.parse::<u64>().unwrap_or(0));
        let (run, wait) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
        let name = format!("{label} {}", comm.trim());
        match times.iter_mut().find(|(known, _, _)| *known == name) {
            Some(entry) => {
                entry.1 += run;
                entry.2 += wait;
            }
            None => times.push((name, run, wait)),
        }
    }
    times
}

/// Each watched process's open descriptors every 10 s.
fn descriptor_timeline(samples: &Samples) -> String {
    let mut text = String::new();
    for (index, label) in samples.labels.iter().enumerate() {
        let _ = write!(text, "\n  {label} descriptors every 10 s:");
        let mut next_ms = 0.0;
        for sample in &samples.samples {
            if let Some(scan) = &sample.descriptors
                && sample.at_ms >= next_ms
            {
                let _ = write!(text, " {}", scan[index]);
                next_ms = sample.at_ms + 10_000.0;
            }
        }
    }
    text
}

/// Each watched process's open descriptors before and after samples `first..=last`, and at most
/// in between: connections opened or closed in a burst show here.
fn descriptors_around(samples: &[Sample], labels: &[String], first: usize, last: usize) -> String {
    let scans: Vec<&Vec<usize>> = samples[..=first]
        .iter()
        .rev()
        .find_map(|sample| sample.descriptors.as_ref())
        .into_iter()
        .chain(
            samples[first + 1..last]
                .iter()
                .filter_map(|sample| sample.descriptors.as_ref()),
        )
        .chain(
            samples[last..]
                .iter()
                .find_map(|sample| sample.descriptors.as_ref()),
        )
        .collect();
    let (Some(before), Some(after)) = (scans.first(), scans.last()) else {
        return String::new();
    };
    let mut text = String::from(" descriptors (before → most → after):");
    for (index, label) in labels.iter().enumerate() {
        let most = scans.iter().map(|scan| scan[index]).max().unwrap_or(0);
        let _ = write!(
            text,
            " {label} {} → {most} → {},",
            before[index], after[index]
        );
    }
    text.trim_end_matches(',').to_owned() + ";"
}

fn available_cpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |cpus| cpus.get() as f64)
}

/// The processes outside the bench that used the most CPU around samples `first..=last` (between
/// the process scans that enclose them).
fn busiest_others(samples: &[Sample], first: usize, last: usize) -> String {
    let before = samples[..=first]
        .iter()
        .rev()
        .find_map(|sample| sample.others.as_ref());
    let after = samples[last..]
        .iter()
        .find_map(|sample| sample.others.as_ref());
    let (Some(before), Some(after)) = (before, after) else {
        return String::new();
    };
    let mut used: Vec<(u64, &str)> = after
        .iter()
        .map(|(pid, name, ticks)| {
            let earlier = before
                .iter()
                .find(|(known, _, _)| known == pid)
                .map_or(0, |(_, _, ticks)| *ticks);
            (ticks.saturating_sub(earlier) * 10, name.as_str())
        })
        .filter(|(ms, _)| *ms > 0)
        .collect();
    used.sort_unstable_by(|a, b| b.cmp(a));
    let mut text = String::from(" others (±100 ms):");
    for (ms, name) in used.iter().take(4) {
        let _ = write!(text, " {name} {ms} ms,");
    }
    if used.is_empty() {
        text += " none";
    }
    text.trim_end_matches(',').to_owned() + ";"
}

/// Calls of several paths that were slow close together in time.
struct Window {
    start_ms: f64,
    end_ms: f64,
    /// Per path: slow calls and the slowest.
    by_path: Vec<(usize, f64)>,
}

/// Groups slow calls (per path) into windows: a call sent more than 20 ms after the window's
/// last slow answer starts a new one.
fn windows(slow: &[&[SlowCall]]) -> Vec<Window> {
    let mut calls: Vec<(usize, SlowCall)> = slow
        .iter()
        .enumerate()
        .flat_map(|(path, calls)| calls.iter().map(move |call| (path, *call)))
        .collect();
    calls.sort_by(|a, b| a.1.sent_ms.total_cmp(&b.1.sent_ms));
    let mut windows: Vec<Window> = Vec::new();
    for (path, call) in calls {
        let answered = call.sent_ms + call.latency_ms;
        let window = match windows.last_mut() {
            Some(window) if call.sent_ms <= window.end_ms + 20.0 => window,
            _ => {
                windows.push(Window {
                    start_ms: call.sent_ms,
                    end_ms: answered,
                    by_path: vec![(0, 0.0); slow.len()],
                });
                windows.last_mut().unwrap()
            }
        };
        window.end_ms = window.end_ms.max(answered);
        let (count, slowest) = &mut window.by_path[path];
        *count += 1;
        *slowest = slowest.max(call.latency_ms);
    }
    windows
}

/// A few lines on the windows of slow calls: the largest ones, and with samples what every
/// watched thread did in each.
pub fn report(paths: &[&str], slow: &[&[SlowCall]], samples: Option<&Samples>) -> String {
    let mut windows = windows(slow);
    let total: usize = slow.iter().map(|calls| calls.len()).sum();
    let mut text = format!(
        "calls slower than {SLOW_MS} ms: {total} in {} windows",
        windows.len()
    );
    windows.sort_by_key(|window| {
        std::cmp::Reverse(
            window
                .by_path
                .iter()
                .map(|(count, _)| *count)
                .sum::<usize>(),
        )
    });
    if let Some(samples) = samples {
        text += &descriptor_timeline(samples);
    }
    for window in windows.iter().take(5) {
        let _ = write!(
            text,
            "\n  at {:.3} s for {:.0} ms:",
            window.start_ms / 1000.0,
            window.end_ms - window.start_ms
        );
        for (name, (count, slowest)) in paths.iter().zip(&window.by_path) {
            if *count > 0 {
                let _ = write!(text, " {name} {count} (slowest {slowest:.1} ms);");
            }
        }
        if let Some(samples) = samples {
            text += &describe(samples, window.start_ms - 10.0, window.end_ms);
        }
    }
    text
}

/// What the probe saw between two moments: its latest wake-up, steal, and the threads that ran
/// or waited for a CPU more than a millisecond.
fn describe(samples: &Samples, from_ms: f64, to_ms: f64) -> String {
    let labels = &samples.labels;
    let samples = &samples.samples;
    let first = samples.iter().rposition(|sample| sample.at_ms <= from_ms);
    let last = samples.iter().position(|sample| sample.at_ms >= to_ms);
    let (Some(first), Some(last)) = (first, last) else {
        return " (outside the probe's samples)".to_owned();
    };
    let (before, after) = (&samples[first], &samples[last]);
    let latest = samples[first + 1..=last]
        .iter()
        .map(|sample| sample.late_ms)
        .fold(0.0, f64::max);
    let mut text = format!(
        "\n    probe over {:.0} ms: woke up to {latest:.1} ms late; machine busy {} ms (of {:.0}), steal {} ms;",
        after.at_ms - before.at_ms,
        after.busy_ticks.saturating_sub(before.busy_ticks) * 10,
        (after.at_ms - before.at_ms) * available_cpus(),
        after.steal_ticks.saturating_sub(before.steal_ticks) * 10
    );
    text += &busiest_others(samples, first, last);
    text += &descriptors_around(samples, labels, first, last);
    for (name, run, wait) in &after.threads {
        let (run_before, wait_before) = before
            .threads
            .iter()
            .find(|(known, _, _)| known == name)
            .map_or((0, 0), |(_, run, wait)| (*run, *wait));
        let ran_ms = run.saturating_sub(run_before) as f64 / 1e6;
        let waited_ms = wait.saturating_sub(wait_before) as f64 / 1e6;
        if ran_ms + waited_ms >= 1.0 {
            let _ = write!(text, " {name} ran {ran_ms:.1} waited {waited_ms:.1};");
        }
    }
    text
}
