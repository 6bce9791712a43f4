//! Prometheus metrics, rendered by hand in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use tollgate_core::Nanos;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Debug, Default)]
struct Route {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

#[derive(Debug, Default)]
struct ModelUse {
    input_tokens: u64,
    output_tokens: u64,
    cost_nanos: i64,
}

/// Keyed by names looked up as `&str` first, so a request allocates nothing here once its route,
/// team and model have been seen.
#[derive(Debug, Default)]
struct Inner {
    routes: BTreeMap<String, Route>,
    usage: BTreeMap<String, BTreeMap<String, ModelUse>>,
    rejections: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

fn slot<'a, V: Default>(map: &'a mut BTreeMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.entry(key.to_owned()).or_default()
}

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with<T>(&self, work: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&mut inner)
    }

    /// A finished request on `route` with its status and duration.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.with(|inner| {
            let route = match inner.routes.get_mut(route) {
                Some(known) => known,
                None => slot(&mut inner.routes, route),
            };
            *route.statuses.entry(status).or_default() += 1;
            let histogram = &mut route.latency;
            histogram.count += 1;
            histogram.sum_seconds += seconds;
            for (index, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    histogram.counts[index] += 1;
                }
            }
        });
    }

    pub fn usage(&self, team: &str, model: &str, input: u64, output: u64, cost: Nanos) {
        self.with(|inner| {
            let models = match inner.usage.get_mut(team) {
                Some(known) => known,
                None => slot(&mut inner.usage, team),
            };
            let used = match models.get_mut(model) {
                Some(known) => known,
                None => slot(models, model),
            };
            used.input_tokens += input;
            used.output_tokens += output;
            used.cost_nanos += cost.0;
        });
    }

    pub fn rejection(&self, team: &str, limit: &'static str) {
        self.with(|inner| *slot(&mut inner.rejections, team).entry(limit).or_default() += 1);
    }

    pub fn render(&self) -> String {
        self.with(|inner| {
            let mut out = String::new();
            out.push_str("# HELP tollgate_requests_total Requests answered, by route and status.\n# TYPE tollgate_requests_total counter\n");
            for (route, counts) in &inner.routes {
                for (status, count) in &counts.statuses {
                    let _ = writeln!(out, "tollgate_requests_total{{route=\"{}\",status=\"{status}\"}} {count}", escape(route));
                }
            }
            out.push_str("# HELP tollgate_request_duration_seconds Time to answer, by route.\n# TYPE tollgate_request_duration_seconds histogram\n");
            for (route, counts) in &inner.routes {
                let (route, histogram) = (escape(route), &counts.latency);
                for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                    let _ = writeln!(out, "tollgate_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(out, "tollgate_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", histogram.count);
                let _ = writeln!(out, "tollgate_request_duration_seconds_sum{{route=\"{route}\"}} {}", histogram.sum_seconds);
                let _ = writeln!(out, "tollgate_request_duration_seconds_count{{route=\"{route}\"}} {}", histogram.count);
            }
            out.push_str("# HELP tollgate_tokens_total Tokens metered, by tenant, model and direction.\n# TYPE tollgate_tokens_total counter\n");
            for (team, models) in &inner.usage {
                for (model, used) in models {
                    for (direction, count) in [("input", used.input_tokens), ("output", used.output_tokens)] {
                        let _ = writeln!(out, "tollgate_tokens_total{{team_id=\"{}\",model=\"{}\",direction=\"{direction}\"}} {count}", escape(team), escape(model));
                    }
                }
            }
            out.push_str("# HELP tollgate_cost_usd_total Cost metered in USD, by tenant and model.\n# TYPE tollgate_cost_usd_total counter\n");
            for (team, models) in &inner.usage {
                for (model, used) in models {
                    let _ = writeln!(out, "tollgate_cost_usd_total{{team_id=\"{}\",model=\"{}\"}} {}", escape(team), escape(model), Nanos(used.cost_nanos));
                }
            }
            out.push_str("# HELP tollgate_limit_rejections_total Requests refused by a limit before the model was called.\n# TYPE tollgate_limit_rejections_total counter\n");
            for (team, limits) in &inner.rejections {
                for (limit, count) in limits {
                    let _ = writeln!(out, "tollgate_limit_rejections_total{{team_id=\"{}\",limit=\"{limit}\"}} {count}", escape(team));
                }
            }
            out
        })
    }
}
