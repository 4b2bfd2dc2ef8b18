//! `tt-cli plot`: the server's recent history drawn as SVG, written by
//! hand (no plotting library).
//!
//! What is drawn, against the server's local timebase (seconds before the
//! answer):
//! - the served interval's width as a line (`class="width"`), one vertex
//!   per recorded point, plus one where a slave's round replaced the
//!   interval served until then: the top of the sawtooth, from which the
//!   line drops to the new width at the same instant. Between points the
//!   line is straight, which is exact for a slave between rounds (its width
//!   grows by `2 ceil(rho dt)`) and an interpolation for a master;
//! - stretches where nothing was served, shaded (`class="unsynchronized"`);
//! - a strip per member under the plot with a tick at each of its samples
//!   (`class="samples"`);
//! - faults (a member turned falseticker, unreachable, stale or
//!   unsynchronized: `class="fault"`; the server losing sync: `class="fault
//!   sync-lost"`) as red lines across the plot, and recoveries in green.
//!
//! Coordinates are floating point: this is a drawing, not a bound.

use crate::format::{ms_up, utc};
use crate::{out, query, EXIT_ERROR};
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use tt_proto::v1::{HistoryEventKind, HistoryPoint, HistoryResponse};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 190.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 64.0;
const PLOT_HEIGHT: f64 = 320.0;
/// Room under the plot for the x labels and the axis title.
const X_AXIS_ROOM: f64 = 48.0;
const STRIP_HEIGHT: f64 = 16.0;
const LEGEND_ROOM: f64 = 40.0;
/// Faults and recoveries get a label in words up to this many.
const MAX_LABELS: usize = 12;

/// What the plot shows, in numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Points drawn.
    pub points: usize,
    /// Vertices of the width line (points served, plus replaced tops).
    pub vertices: usize,
    /// Member faults marked.
    pub faults: usize,
    /// Losses of sync marked.
    pub sync_lost: usize,
    /// Sample ticks drawn.
    pub samples: usize,
}

/// `text` with the five XML special characters escaped.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// The y axis: from a round value under the narrowest width to one over
/// the widest, in steps of 1, 2 or 5 times a power of ten (at most eight
/// of them), so the sawtooth fills the plot rather than sitting on top of
/// the width it rides on; in a unit that keeps the labels short.
struct Scale {
    step_ns: i64,
    bottom_ns: i64,
    top_ns: i64,
    unit: &'static str,
    unit_ns: i64,
}

impl Scale {
    fn for_range(min_ns: i64, max_ns: i64) -> Scale {
        let span_ns = max_ns.saturating_sub(min_ns).max(1);
        let mut step_ns: i64 = 1;
        'search: for power in 0..19 {
            let base = 10i64.saturating_pow(power);
            for factor in [1, 2, 5] {
                step_ns = base.saturating_mul(factor);
                if span_ns / step_ns < 8 {
                    break 'search;
                }
            }
        }
        let bottom_ns = min_ns.div_euclid(step_ns).saturating_mul(step_ns);
        let mut top_ns = max_ns
            .saturating_add(step_ns - 1)
            .div_euclid(step_ns)
            .saturating_mul(step_ns);
        if top_ns <= bottom_ns {
            top_ns = bottom_ns.saturating_add(step_ns);
        }
        let (unit, unit_ns) = if top_ns >= 10_000_000_000 {
            ("s", 1_000_000_000)
        } else if top_ns >= 10_000_000 {
            ("ms", 1_000_000)
        } else if top_ns >= 10_000 {
            ("µs", 1_000)
        } else {
            ("ns", 1)
        };
        Scale {
            step_ns,
            bottom_ns,
            top_ns,
            unit,
            unit_ns,
        }
    }

    fn y(&self, width_ns: i64) -> f64 {
        let share = (width_ns - self.bottom_ns) as f64 / (self.top_ns - self.bottom_ns) as f64;
        TOP + PLOT_HEIGHT - PLOT_HEIGHT * share
    }

    fn label(&self, value_ns: i64) -> String {
        let whole = value_ns / self.unit_ns;
        let fraction = value_ns % self.unit_ns;
        if fraction == 0 {
            return whole.to_string();
        }
        // The step is 1, 2 or 5 times a power of ten, so a short decimal
        // shows it exactly.
        let digits = self.unit_ns.ilog10() as usize;
        let text = format!("{whole}.{fraction:0digits$}");
        text.trim_end_matches('0').to_string()
    }
}

/// The width a point served, if it served one.
fn served_width(point: &HistoryPoint) -> Option<i64> {
    point
        .synchronized
        .then(|| point.latest_unix_ns.saturating_sub(point.earliest_unix_ns))
}

/// The width served until a point replaced it.
fn replaced_width(point: &HistoryPoint) -> Option<i64> {
    point.replaced.then(|| {
        point
            .replaced_latest_unix_ns
            .saturating_sub(point.replaced_earliest_unix_ns)
    })
}

/// `name` cut to 24 characters, for the strip labels.
fn shortened(name: &str) -> String {
    if name.chars().count() <= 24 {
        return name.to_string();
    }
    let head: String = name.chars().take(23).collect();
    format!("{head}…")
}

/// A verdict in words, for tooltips.
fn verdict_words(verdict: i32) -> &'static str {
    crate::render::verdict_words(verdict)
}

/// The history as an SVG document, and what it shows.
pub fn svg(history: &HistoryResponse, window_s: u32) -> (String, Summary) {
    let now_ns = history.now_local_ns;
    let window_ns = i64::from(window_s).max(1) * 1_000_000_000;
    let start_ns = now_ns.saturating_sub(window_ns);
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |local_ns: i64| {
        let offset = (local_ns.saturating_sub(start_ns)) as f64 / window_ns as f64;
        LEFT + plot_width * offset.clamp(0.0, 1.0)
    };
    let points: Vec<&HistoryPoint> = history
        .points
        .iter()
        .filter(|point| point.local_ns >= start_ns)
        .collect();
    let members = history.members.len();
    let height = TOP + PLOT_HEIGHT + X_AXIS_ROOM + STRIP_HEIGHT * members as f64 + LEGEND_ROOM;
    let widths: Vec<i64> = points
        .iter()
        .flat_map(|point| [served_width(point), replaced_width(point)])
        .flatten()
        .collect();
    let max_ns = widths.iter().copied().max().unwrap_or(1_000_000);
    let min_ns = widths.iter().copied().min().unwrap_or(0);
    let scale = Scale::for_range(min_ns, max_ns);
    let mut summary = Summary {
        points: points.len(),
        ..Summary::default()
    };

    let mut svg = String::new();
    let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let drift_ppm = history.drift_ppb as f64 / 1000.0;
    let _ = writeln!(
        svg,
        "<desc>Width of the interval {} served over the last {window_s} s: {} points, drift bound {drift_ppm} ppm.</desc>",
        escape(&history.role),
        points.len()
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
    );

    // Title: what, over which window, ending when.
    let newest = points.last().map(|point| {
        let behind = now_ns.saturating_sub(point.local_ns);
        match point.synchronized {
            true => point.earliest_unix_ns / 2 + point.latest_unix_ns / 2 + behind,
            false => point.system_unix_ns.saturating_add(behind),
        }
    });
    let _ = writeln!(
        svg,
        r#"<text class="title" x="20" y="24" font-size="16">{} interval width, last {window_s} s</text>"#,
        escape(&history.role)
    );
    let _ = writeln!(
        svg,
        r##"<text class="subtitle" x="20" y="44" fill="#444">{} points; between polls the width grows by 2 × {drift_ppm} ppm; now ≈ {}</text>"##,
        points.len(),
        newest.map_or("unknown".to_string(), |ns| utc(ns)[..19].to_string() + "Z")
    );

    // Nothing served: shaded from the point to the next (or to now).
    let mut shaded_from: Option<i64> = None;
    let mut shades: Vec<(i64, i64)> = Vec::new();
    for point in &points {
        match (point.synchronized, shaded_from) {
            (false, None) => shaded_from = Some(point.local_ns),
            (true, Some(from)) => {
                shades.push((from, point.local_ns));
                shaded_from = None;
            }
            _ => {}
        }
    }
    if let Some(from) = shaded_from {
        shades.push((from, now_ns));
    }
    for (from, until) in &shades {
        let _ = writeln!(
            svg,
            r##"<rect class="unsynchronized" x="{:.1}" y="{TOP}" width="{:.1}" height="{PLOT_HEIGHT}" fill="#f3c6c6"/>"##,
            x(*from),
            (x(*until) - x(*from)).max(1.0)
        );
    }

    // Axes, grid and their labels, with units.
    let bottom = TOP + PLOT_HEIGHT;
    let mut tick = scale.bottom_ns;
    while tick <= scale.top_ns {
        let y = scale.y(tick);
        let _ = writeln!(
            svg,
            r##"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/>"##,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            svg,
            r#"<text class="y-label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            scale.label(tick)
        );
        tick = tick.saturating_add(scale.step_ns);
    }
    let x_step_s = [
        1u32, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400,
    ]
    .into_iter()
    .find(|step| window_s / step <= 10)
    .unwrap_or(14400);
    let mut before_s = 0;
    while before_s <= window_s {
        let tick_x = x(now_ns - i64::from(before_s) * 1_000_000_000);
        let _ = writeln!(
            svg,
            r##"<line class="grid" x1="{tick_x:.1}" y1="{TOP}" x2="{tick_x:.1}" y2="{bottom}" stroke="#eeeeee"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text class="x-label" x="{tick_x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            if before_s == 0 {
                "0".to_string()
            } else {
                format!("−{before_s}")
            }
        );
        before_s += x_step_s;
    }
    let _ = writeln!(
        svg,
        r##"<path class="axes" d="M{LEFT} {TOP}V{bottom}H{:.1}" fill="none" stroke="#333"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        svg,
        r#"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">time before now (s)</text>"#,
        LEFT + plot_width / 2.0,
        bottom + 36.0
    );
    let _ = writeln!(
        svg,
        r#"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">interval width ({})</text>"#,
        LEFT - 70.0,
        TOP + PLOT_HEIGHT / 2.0,
        LEFT - 70.0,
        TOP + PLOT_HEIGHT / 2.0,
        scale.unit
    );

    // The width: one line per stretch of service.
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    for point in &points {
        if let Some(width) = replaced_width(point) {
            run.push((x(point.local_ns), scale.y(width)));
        }
        match served_width(point) {
            Some(width) => run.push((x(point.local_ns), scale.y(width))),
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    for run in &runs {
        summary.vertices += run.len();
        let vertices: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        if run.len() == 1 {
            let (cx, cy) = run[0];
            let _ = writeln!(
                svg,
                r##"<circle class="width-single" cx="{cx:.1}" cy="{cy:.1}" r="1.5" fill="#1f5fbf"/>"##
            );
        }
        let _ = writeln!(
            svg,
            r##"<polyline class="width" points="{}" fill="none" stroke="#1f5fbf" stroke-width="1.2"/>"##,
            vertices.join(" ")
        );
    }
    if points.iter().all(|point| !point.synchronized) {
        let _ = writeln!(
            svg,
            r##"<text class="note" x="{:.1}" y="{:.1}" text-anchor="middle" fill="#a00">no interval was served in this window</text>"##,
            LEFT + plot_width / 2.0,
            TOP + PLOT_HEIGHT / 2.0
        );
    }

    // A strip per member: its name and a tick per sample.
    let strips_top = bottom + X_AXIS_ROOM;
    let member_name = |index: i32| {
        usize::try_from(index)
            .ok()
            .and_then(|index| history.members.get(index))
            .map_or("?".to_string(), |member| member.name.clone())
    };
    for (index, member) in history.members.iter().enumerate() {
        let strip_y = strips_top + STRIP_HEIGHT * index as f64;
        let _ = writeln!(
            svg,
            r#"<text class="member" x="{:.1}" y="{:.1}" text-anchor="end" font-size="10">{} ({})</text>"#,
            LEFT - 6.0,
            strip_y + 11.0,
            escape(&shortened(&member.name)),
            escape(&member.kind)
        );
        let mut path = String::new();
        for event in &history.events {
            if event.kind == HistoryEventKind::Sample as i32
                && usize::try_from(event.member).ok() == Some(index)
                && event.local_ns >= start_ns
            {
                let _ = write!(
                    path,
                    "M{:.1} {:.1}v{:.0}",
                    x(event.local_ns),
                    strip_y + 3.0,
                    STRIP_HEIGHT - 6.0
                );
                summary.samples += 1;
            }
        }
        let _ = writeln!(
            svg,
            r##"<path class="samples" data-member="{index}" d="{path}" stroke="#555" stroke-width="0.8"/>"##
        );
    }

    // Faults and recoveries, on top of everything.
    let strips_bottom = strips_top + STRIP_HEIGHT * members as f64;
    // Each marker is labelled in words while there are few enough of
    // them to read; with more, its tooltip still says what it is.
    let marked = history
        .events
        .iter()
        .filter(|event| event.local_ns >= start_ns && event.kind != HistoryEventKind::Sample as i32)
        .count();
    let mut labelled = 0usize;
    for event in &history.events {
        if event.local_ns < start_ns {
            continue;
        }
        let at = x(event.local_ns);
        let kind = HistoryEventKind::try_from(event.kind).unwrap_or(HistoryEventKind::Unspecified);
        let (class, colour, what) = match kind {
            HistoryEventKind::MemberFault => {
                summary.faults += 1;
                (
                    "fault",
                    "#c00000",
                    format!(
                        "{} turned {}",
                        member_name(event.member),
                        verdict_words(event.verdict)
                    ),
                )
            }
            HistoryEventKind::SyncLost => {
                summary.sync_lost += 1;
                (
                    "fault sync-lost",
                    "#800000",
                    format!("{} lost sync", history.role),
                )
            }
            HistoryEventKind::MemberRecovered => (
                "recovery",
                "#1a8a1a",
                format!("{} back in the majority", member_name(event.member)),
            ),
            HistoryEventKind::SyncRegained => (
                "recovery sync-regained",
                "#1a8a1a",
                format!("{} synchronized", history.role),
            ),
            HistoryEventKind::Sample | HistoryEventKind::Unspecified => continue,
        };
        let dash = if class.starts_with("fault") {
            "4 3"
        } else {
            "1 3"
        };
        let seconds_before = now_ns.saturating_sub(event.local_ns);
        let label = if marked <= MAX_LABELS {
            // Staggered down the plot so that neighbours do not overlap;
            // near the right edge, written to the left of the line.
            let y = TOP + 12.0 + 12.0 * (labelled % 4) as f64;
            labelled += 1;
            let (anchor, dx) = if at > WIDTH - RIGHT - 160.0 {
                ("end", -3.0)
            } else {
                ("start", 3.0)
            };
            format!(
                r#"<text class="event-label" x="{:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="9" fill="{colour}">{}</text>"#,
                at + dx,
                escape(&what)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            svg,
            r#"<g class="{class}"><title>{}, {} s before now</title><line x1="{at:.1}" y1="{TOP}" x2="{at:.1}" y2="{strips_bottom:.1}" stroke="{colour}" stroke-dasharray="{dash}"/><path d="M{:.1} {:.1}h8l-4 7z" fill="{colour}"/>{label}</g>"#,
            escape(&what),
            crate::format::seconds(seconds_before),
            at - 4.0,
            TOP - 8.0,
        );
    }

    // The legend.
    let legend_y = strips_bottom + 24.0;
    let _ = writeln!(
        svg,
        r##"<g class="legend" font-size="11"><line x1="{LEFT}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="#1f5fbf" stroke-width="1.2"/><text x="{:.1}" y="{:.1}">width served</text><rect x="{:.1}" y="{:.1}" width="14" height="10" fill="#f3c6c6"/><text x="{:.1}" y="{:.1}">unsynchronized</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#c00000" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}">fault</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#1a8a1a" stroke-dasharray="1 3"/><text x="{:.1}" y="{:.1}">recovery</text><text x="{:.1}" y="{:.1}">ticks: samples per member; widths {} to {} ms</text></g>"##,
        LEFT + 24.0,
        LEFT + 30.0,
        legend_y + 4.0,
        LEFT + 130.0,
        legend_y - 5.0,
        LEFT + 150.0,
        legend_y + 4.0,
        LEFT + 260.0,
        legend_y - 8.0,
        LEFT + 260.0,
        legend_y + 6.0,
        LEFT + 268.0,
        legend_y + 4.0,
        LEFT + 320.0,
        legend_y - 8.0,
        LEFT + 320.0,
        legend_y + 6.0,
        LEFT + 328.0,
        legend_y + 4.0,
        LEFT + 410.0,
        legend_y + 4.0,
        ms_up(min_ns),
        ms_up(max_ns)
    );
    svg.push_str("</svg>\n");
    (svg, summary)
}

/// Asks `target` for its history of the last `window_s` seconds and
/// writes the plot to `output`: exit 0 once written, 2 on any error.
pub async fn run(target: &str, output: &Path, window_s: u32, json: bool) -> ExitCode {
    if output
        .extension()
        .is_some_and(|ext| !ext.eq_ignore_ascii_case("svg"))
    {
        out::error(&format!(
            "{} does not end in .svg: tt-cli writes SVG only (rsvg-convert FILE.svg -o FILE.png \
             makes a PNG of it)",
            output.display()
        ));
        return ExitCode::from(EXIT_ERROR);
    }
    let history = match query::history(target, window_s).await {
        Ok(history) => history,
        Err(message) => {
            out::error(&message);
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let (document, summary) = svg(&history, window_s);
    if let Err(e) = std::fs::write(output, document) {
        out::error(&format!("cannot write {}: {e}", output.display()));
        return ExitCode::from(EXIT_ERROR);
    }
    let text = if json {
        json!({
            "output": output.display().to_string(),
            "role": history.role,
            "window_s": window_s,
            "points": summary.points,
            "samples": summary.samples,
            "faults": summary.faults,
            "sync_lost": summary.sync_lost,
        })
        .to_string()
    } else {
        format!(
            "wrote {}: {} points from the {} over the last {window_s} s, {} fault{} and {} loss{} \
             of sync marked",
            output.display(),
            summary.points,
            history.role,
            summary.faults,
            if summary.faults == 1 { "" } else { "s" },
            summary.sync_lost,
            if summary.sync_lost == 1 { "" } else { "es" },
        )
    };
    out::finish(0, out::line(&text))
}
