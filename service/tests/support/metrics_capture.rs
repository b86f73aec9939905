//! A `metrics` recorder that keeps every series in memory, installed once
//! per test binary; tests read their subscriber's series by its unique
//! group label.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

#[derive(Debug, Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// The series of one name and label set.
#[derive(Default)]
struct Series {
    counters: HashMap<String, Arc<AtomicU64>>,
    gauges: HashMap<String, Arc<AtomicU64>>,
    histograms: HashMap<String, Arc<Samples>>,
}

/// The recorder.
#[derive(Default, Clone)]
pub struct MetricsCapture {
    series: Arc<Mutex<Series>>,
}

fn id(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for MetricsCapture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut s = self.series.lock().unwrap();
        Counter::from_arc(s.counters.entry(id(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut s = self.series.lock().unwrap();
        Gauge::from_arc(s.gauges.entry(id(key)).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut s = self.series.lock().unwrap();
        Histogram::from_arc(s.histograms.entry(id(key)).or_default().clone())
    }
}

impl MetricsCapture {
    /// The recorder of this test binary.
    pub fn global() -> MetricsCapture {
        static GLOBAL: OnceLock<MetricsCapture> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let capture = MetricsCapture::default();
                metrics::set_global_recorder(capture.clone()).expect("one recorder per binary");
                capture
            })
            .clone()
    }

    fn find<T: Clone>(map: &HashMap<String, T>, name: &str, group: &str) -> Option<T> {
        let label = format!("group={group}");
        map.iter()
            .find(|(k, _)| k.starts_with(&format!("{name}{{")) && k.contains(&label))
            .map(|(_, v)| v.clone())
    }

    /// A counter of the subscriber in `group` (0 if never registered).
    pub fn counter(&self, name: &str, group: &str) -> u64 {
        let s = self.series.lock().unwrap();
        Self::find(&s.counters, name, group).map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// A gauge's value.
    pub fn gauge(&self, name: &str, group: &str) -> f64 {
        let s = self.series.lock().unwrap();
        Self::find(&s.gauges, name, group)
            .map_or(f64::NAN, |g| f64::from_bits(g.load(Ordering::SeqCst)))
    }

    /// A histogram's samples.
    pub fn samples(&self, name: &str, group: &str) -> Vec<f64> {
        let s = self.series.lock().unwrap();
        Self::find(&s.histograms, name, group)
            .map_or_else(Vec::new, |h| h.0.lock().unwrap().clone())
    }
}
