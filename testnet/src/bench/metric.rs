//! One benchmark figure with its same-run reference and goal, and the table of them.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub reference_name: Option<String>,
    pub reference_value: Option<f64>,
    pub goal: Option<String>,
    pub met: Option<bool>,
}

impl Metric {
    pub fn new(name: &str, value: f64, unit: &str) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            reference_name: None,
            reference_value: None,
            goal: None,
            met: None,
        }
    }

    pub fn reference(mut self, name: &str, value: f64) -> Metric {
        self.reference_name = Some(name.into());
        self.reference_value = Some(value);
        self
    }

    pub fn at_most(mut self, bound: f64) -> Metric {
        self.goal = Some(format!("<= {}", fmt(bound)));
        self.met = Some(self.value <= bound);
        self
    }

    pub fn at_least(mut self, bound: f64) -> Metric {
        self.goal = Some(format!(">= {}", fmt(bound)));
        self.met = Some(self.value >= bound);
        self
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn table(metrics: &[Metric]) -> String {
    let mut out = format!(
        "{:<36} {:>10} {:<5} {:<32} {:>10} {:<10} {}\n",
        "METRIC", "VALUE", "UNIT", "REFERENCE", "REF VALUE", "GOAL", "MET"
    );
    for m in metrics {
        out.push_str(&format!(
            "{:<36} {:>10} {:<5} {:<32} {:>10} {:<10} {}\n",
            m.name,
            fmt(m.value),
            m.unit,
            m.reference_name.as_deref().unwrap_or("-"),
            m.reference_value.map(fmt).unwrap_or_else(|| "-".into()),
            m.goal.as_deref().unwrap_or("-"),
            match m.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            }
        ));
    }
    out
}
