//! The balance over time as an SVG drawn on the server (no script, no library): a
//! step line of the balance, the threshold dashed, top-ups marked, and a text
//! description for screen readers.

use super::html::esc;
use std::fmt::Write;

const W: f64 = 600.0;
const H: f64 = 200.0;
const PAD_L: f64 = 8.0;
const PAD_R: f64 = 8.0;
const PAD_T: f64 = 12.0;
const PAD_B: f64 = 8.0;

/// What the chart shows: balances at times (oldest first), the top-ups' times, the
/// threshold, and the labels of both ends of the time axis.
pub struct Series<'a> {
    pub points: &'a [(i64, i64)],
    pub top_ups: &'a [i64],
    pub threshold: Option<i64>,
    pub from: (i64, &'a str),
    pub to: (i64, &'a str),
    /// The words a screen reader says instead of the picture.
    pub description: &'a str,
}

pub fn balance_svg(s: &Series) -> String {
    let (t0, t1) = (s.from.0, s.to.0.max(s.from.0 + 1));
    let mut lo = s.points.iter().map(|p| p.1).min().unwrap_or(0).min(0);
    let mut hi = s.points.iter().map(|p| p.1).max().unwrap_or(0);
    if let Some(t) = s.threshold {
        (lo, hi) = (lo.min(t), hi.max(t));
    }
    let hi = hi.max(lo + 1);
    let x = |t: i64| PAD_L + (t - t0) as f64 / (t1 - t0) as f64 * (W - PAD_L - PAD_R);
    let y = |v: i64| PAD_T + (hi - v) as f64 / (hi - lo) as f64 * (H - PAD_T - PAD_B);
    let mut line = String::new();
    let mut last: Option<i64> = None;
    for &(t, v) in s.points {
        let t = t.clamp(t0, t1);
        match last {
            None => {
                let _ = write!(line, "M{:.1},{:.1}", x(t), y(v));
            }
            Some(_) => {
                let _ = write!(line, " H{:.1} V{:.1}", x(t), y(v));
            }
        }
        last = Some(v);
    }
    if last.is_some() {
        let _ = write!(line, " H{:.1}", x(t1));
    }
    let area = match last {
        Some(_) => format!(
            "<path class=\"area\" d=\"{line} V{:.1} H{:.1} Z\"/>",
            y(lo),
            x(s.points[0].0.clamp(t0, t1))
        ),
        None => String::new(),
    };
    let threshold = s.threshold.map_or(String::new(), |t| {
        format!(
            "<line class=\"threshold\" x1=\"{PAD_L}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
            W - PAD_R,
            y(t),
            y(t)
        )
    });
    let mut marks = String::new();
    for &t in s.top_ups.iter().filter(|t| (t0..=t1).contains(*t)) {
        let v = s.points.iter().rev().find(|p| p.0 <= t).map_or(lo, |p| p.1);
        let _ = write!(
            marks,
            "<circle class=\"mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"/>",
            x(t),
            y(v)
        );
    }
    // The axis and the legend are HTML beside the picture: readable at any width.
    format!(
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"chart-desc\">\
         <desc id=\"chart-desc\">{}</desc>{area}{threshold}<path class=\"line\" d=\"{line}\"/>{marks}</svg>\
         <p class=\"axis\" aria-hidden=\"true\"><span>{}</span><span>{}</span></p>\
         <p class=\"legend\" aria-hidden=\"true\"><span class=\"key-mark\"></span> top-up \
         <span class=\"key-threshold\"></span> threshold</p>",
        esc(s.description),
        esc(s.from.1),
        esc(s.to.1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_draws_the_balance_and_marks_the_top_ups() {
        let points = [(0, 5_000), (50, 1_000), (60, 3_000)];
        let svg = balance_svg(&Series {
            points: &points,
            top_ups: &[60],
            threshold: Some(1_500),
            from: (0, "start"),
            to: (100, "now"),
            description: "Balance <b>",
        });
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("class=\"threshold\""));
        assert!(svg.contains("Balance &lt;b&gt;"));
        // The line starts at the left edge at the highest value.
        assert!(svg.contains("d=\"M8.0,12.0"));
    }
}
