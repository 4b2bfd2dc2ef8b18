//! Prometheus's text exposition format (version 0.0.4), written by hand.
//!
//! Each metric family is a `# HELP` line, a `# TYPE` line and its samples,
//! `name{label="value",...} number`. Label values escape `\`, `"` and the
//! line feed; help text escapes `\` and the line feed. Durations and
//! instants go out as seconds written exactly from integer nanoseconds
//! (`1500` ns is `0.0000015`), so a figure shown is the figure measured.

use std::fmt::Write;

/// The kind of a metric family, as its `# TYPE` line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A count that only goes up (from the process start).
    Counter,
    /// Observations in cumulative buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A whole number.
    Int(i64),
    /// A whole count.
    Count(u64),
    /// Nanoseconds, written as seconds.
    Nanos(i64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Int(value) => write!(f, "{value}"),
            Value::Count(value) => write!(f, "{value}"),
            Value::Nanos(ns) => f.write_str(&seconds(ns)),
        }
    }
}

/// `ns` nanoseconds as a decimal number of seconds, exactly, without
/// trailing zeros: `-1_500_000` is `-0.0015`, `2_000_000_000` is `2`.
pub fn seconds(ns: i64) -> String {
    let magnitude = i128::from(ns).unsigned_abs();
    let whole = magnitude / 1_000_000_000;
    let fraction = magnitude % 1_000_000_000;
    let sign = if ns < 0 { "-" } else { "" };
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{fraction:09}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// One exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts the family `name`: its HELP and TYPE lines. Its samples
    /// follow with [`Exposition::sample`].
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of `name` (the family's name, or for a histogram its
    /// `_bucket`, `_sum` or `_count` series) with `labels`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family with a single sample: HELP, TYPE and the sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A family and its samples, one for each `(labels, value)`; a family
    /// without samples is written too (its HELP and TYPE lines alone).
    pub fn family_with<'a, L>(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: impl IntoIterator<Item = (L, Value)>,
    ) where
        L: AsRef<[(&'a str, &'a str)]>,
    {
        self.family(name, kind, help);
        for (labels, value) in samples {
            self.sample(name, labels.as_ref(), value);
        }
    }

    /// A state set: a gauge family with, for each member's `(labels,
    /// state)`, one sample per state of `states`, labelled `label` with
    /// the state's `state_name`: 1 for the member's state, 0 for the others.
    pub fn state_set<'a, L, S>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        states: &[S],
        state_name: impl Fn(S) -> String,
        members: impl IntoIterator<Item = (L, S)>,
    ) where
        L: AsRef<[(&'a str, &'a str)]>,
        S: Copy + PartialEq,
    {
        let named: Vec<(S, String)> = states.iter().map(|&s| (s, state_name(s))).collect();
        self.family(name, Kind::Gauge, help);
        for (labels, state) in members {
            for (candidate, candidate_name) in &named {
                let mut with_state = labels.as_ref().to_vec();
                with_state.push((label, candidate_name));
                self.sample(
                    name,
                    &with_state,
                    Value::Int(i64::from(*candidate == state)),
                );
            }
        }
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.text
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A histogram of durations with fixed bucket bounds, in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    bounds_ns: &'static [i64],
    counts: Vec<u64>,
    sum_ns: i64,
    count: u64,
}

/// Bucket bounds for round trips on a network: 100 us to 1 s.
pub const ROUND_TRIP_BUCKETS_NS: &[i64] = &[
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

impl Histogram {
    /// An empty histogram with `bounds_ns`, ascending.
    pub fn new(bounds_ns: &'static [i64]) -> Histogram {
        Histogram {
            bounds_ns,
            counts: vec![0; bounds_ns.len()],
            sum_ns: 0,
            count: 0,
        }
    }

    /// Counts one observation of `ns` nanoseconds.
    pub fn observe(&mut self, ns: i64) {
        if let Some(slot) = self.bounds_ns.iter().position(|&bound| ns <= bound) {
            self.counts[slot] += 1;
        }
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.count += 1;
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the `_bucket` (cumulative, `le` in seconds, ending with
    /// `+Inf`), `_sum` and `_count` series of family `name` with `labels`.
    pub fn write(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (&bound, &count) in self.bounds_ns.iter().zip(&self.counts) {
            cumulative += count;
            let le = seconds(bound);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            out.sample(&bucket, &with_le, Value::Count(cumulative));
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        out.sample(&bucket, &with_le, Value::Count(self.count));
        out.sample(&format!("{name}_sum"), labels, Value::Nanos(self.sum_ns));
        out.sample(&format!("{name}_count"), labels, Value::Count(self.count));
    }
}

/// One parsed sample line: what a scraper sees.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSample {
    /// The series name.
    pub name: String,
    /// Its labels, in order.
    pub labels: Vec<(String, String)>,
    /// The value as written.
    pub value: String,
}

impl ParsedSample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The value of the first of `samples` named `name` that carries each
/// label of `labels`.
pub fn value_of<'s>(
    samples: &'s [ParsedSample],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'s str> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value.as_str())
}

/// Parses an exposition strictly, as a check of what [`Exposition`]
/// writes: every line is a HELP or TYPE line or a sample; every sample
/// belongs to the family the last TYPE line declared (or its histogram
/// series); names and label names are valid; label values are properly
/// escaped; values are numbers. The error names the line.
pub fn parse(text: &str) -> Result<Vec<ParsedSample>, String> {
    let mut samples = Vec::new();
    let mut family: Option<(String, String)> = None;
    let mut helped: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", index + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest
                .split_once(' ')
                .ok_or_else(|| at("HELP without text".into()))?;
            check_name(name).map_err(at)?;
            helped = Some(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without kind".into()))?;
            check_name(name).map_err(at)?;
            if !["gauge", "counter", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind}")));
            }
            if helped.as_deref() != Some(name) {
                return Err(at("TYPE without HELP just before".into()));
            }
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            return Err(at("stray comment or empty line".into()));
        }
        let sample = parse_sample(line).map_err(at)?;
        let Some((family_name, kind)) = &family else {
            return Err(at("sample before any TYPE line".into()));
        };
        let belongs = if kind == "histogram" {
            ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| sample.name == format!("{family_name}{suffix}"))
        } else {
            &sample.name == family_name
        };
        if !belongs {
            return Err(at(format!("sample outside its family {family_name}")));
        }
        samples.push(sample);
    }
    Ok(samples)
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric or label name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<ParsedSample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = rest
                .split_once("=\"")
                .ok_or_else(|| "label without =\"".to_string())?;
            check_name(label)?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => return Err("bad escape in a label value".into()),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            labels.push((label.to_string(), value));
            rest = &after[end + 1..];
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err("labels not separated by commas".into());
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_string())?;
    let number_ok = matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok();
    if !number_ok || value.contains(' ') {
        return Err(format!("value {value:?} is not a number"));
    }
    Ok(ParsedSample {
        name: name.to_string(),
        labels,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(1), "0.000000001");
        assert_eq!(seconds(1_500), "0.0000015");
        assert_eq!(seconds(-1_500_000), "-0.0015");
        assert_eq!(seconds(2_000_000_000), "2");
        assert_eq!(seconds(1_700_000_000_123_000_000), "1700000000.123");
        assert_eq!(seconds(i64::MIN), "-9223372036.854775808");
    }

    #[test]
    fn a_family_is_written_and_parses_back() {
        let mut out = Exposition::new();
        out.family(
            "tt_source_width_seconds",
            Kind::Gauge,
            "Width of a source's interval.\nTwo lines, one \\.",
        );
        out.sample(
            "tt_source_width_seconds",
            &[("source", "gps \"0\"\\\n"), ("kind", "gpsd")],
            Value::Nanos(812_000),
        );
        let text = out.finish();
        assert_eq!(
            text,
            "# HELP tt_source_width_seconds Width of a source's interval.\\nTwo lines, one \\\\.\n\
             # TYPE tt_source_width_seconds gauge\n\
             tt_source_width_seconds{source=\"gps \\\"0\\\"\\\\\\n\",kind=\"gpsd\"} 0.000812\n"
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].label("source"), Some("gps \"0\"\\\n"));
        assert_eq!(parsed[0].value, "0.000812");
    }

    #[test]
    fn a_histogram_is_cumulative() {
        static BOUNDS: &[i64] = &[1_000, 10_000];
        let mut histogram = Histogram::new(BOUNDS);
        for ns in [500, 1_000, 5_000, 20_000] {
            histogram.observe(ns);
        }
        let mut out = Exposition::new();
        out.family("rtt_seconds", Kind::Histogram, "Round trips.");
        histogram.write(&mut out, "rtt_seconds", &[("master", "a")]);
        let text = out.finish();
        let parsed = parse(&text).unwrap();
        let values: Vec<(&str, Option<&str>, &str)> = parsed
            .iter()
            .map(|s| (s.name.as_str(), s.label("le"), s.value.as_str()))
            .collect();
        // 500 and 1000 are <= 1 us; 5000 is <= 10 us; 20000 only in +Inf.
        assert_eq!(
            values,
            vec![
                ("rtt_seconds_bucket", Some("0.000001"), "2"),
                ("rtt_seconds_bucket", Some("0.00001"), "3"),
                ("rtt_seconds_bucket", Some("+Inf"), "4"),
                ("rtt_seconds_sum", None, "0.0000265"),
                ("rtt_seconds_count", None, "4"),
            ]
        );
    }

    #[test]
    fn the_parser_refuses_what_a_scraper_would() {
        for bad in [
            "x 1\n",
            "# HELP x h\n# TYPE x gauge\nx{a=\"1\" 1\n",
            "# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n",
            "# HELP x h\n# TYPE x gauge\nx one\n",
            "# HELP x h\n# TYPE x gauge\ny 1\n",
            "# HELP x h\n# TYPE x gauge\n9x 1\n",
            "# TYPE x gauge\nx 1\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
