//! SVG charts drawn with plotters' SVG backend: overlaid histograms, grouped bars, lines and a
//! Gantt timeline.
//!
//! Every chart is an `<svg class="chart" role="img">` with a `<title>` and an `aria-label`, a
//! fixed `viewBox` that CSS scales down to the page width, and a colour-blind-safe palette
//! (Okabe-Ito); legends are drawn in the SVG. Text is drawn as SVG `<text>` and laid out by the
//! browser: plotters only estimates its width (no font file is read, so the charts draw the same
//! on a machine without fonts). The same input gives the same bytes.
//!
//! A chart that cannot be drawn (no data, a non-finite range) is still an SVG, saying so.

use std::error::Error;

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::series::LineSeries as PlotLine;

use crate::format::{duration_ms, number};
use crate::node::{Svg, escape};

/// The font family of chart text (the page's font stack starts with the system UI font; SVG
/// `<text>` falls back to the browser's sans-serif).
const FONT: &str = "sans-serif";
/// Dark text, 16:1 on white.
const INK: RGBColor = RGBColor(26, 26, 26);
/// Muted text, 9:1 on white.
const MUTED: RGBColor = RGBColor(74, 74, 74);
const GRID_LIGHT: RGBColor = RGBColor(236, 236, 236);
const GRID_BOLD: RGBColor = RGBColor(212, 212, 212);

/// The Okabe-Ito palette (without yellow, which is unreadable on white), in the order series
/// take it: blue, vermillion, bluish green, orange, reddish purple, sky blue, grey.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(96, 96, 96),
];

type DrawResult = Result<(), Box<dyn Error>>;

/// A linear axis whose ticks are exactly the given points (category or row centres).
#[derive(Debug, Clone)]
struct Slots {
    lo: f64,
    hi: f64,
    keys: Vec<f64>,
}

impl Ranged for Slots {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let r = (value - self.lo) / (self.hi - self.lo);
        #[allow(clippy::cast_possible_truncation)]
        let px = (r * f64::from(limit.1 - limit.0)).round() as i32;
        limit.0 + px
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.keys.clone()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// One named series of values (a histogram's bin shares, a bar group's values).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// One value per bin or category.
    pub values: Vec<f64>,
}

impl Series {
    /// A named series.
    #[must_use]
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            values,
        }
    }
}

/// One line of a line chart: `(x, y)` points in x order.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSeries {
    /// Legend name.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// A horizontal reference line on a bar chart (a threshold).
#[derive(Debug, Clone, PartialEq)]
pub struct RefLine {
    /// Label drawn at its right end.
    pub label: String,
    /// Its height.
    pub value: f64,
}

/// Wrap plotters' output in an accessible root element.
fn finish(buf: &str, w: u32, h: u32, title: &str) -> Svg {
    // plotters opens with `<svg width=.. height=.. viewBox=.. xmlns=..>`: replace that tag.
    let body = buf.split_once('>').map_or("", |(_, rest)| rest);
    let t = escape(title);
    Svg(format!(
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{t}\">\n<title>{t}</title>{body}"
    ))
}

/// An SVG saying the chart could not be drawn.
fn unavailable(w: u32, h: u32, title: &str, why: &str) -> Svg {
    let t = escape(title);
    let why = escape(why);
    Svg(format!(
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{t}\">\n<title>{t}</title>\
         <rect x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#c8c8c8\"/>\
         <text x=\"16\" y=\"32\" font-family=\"{FONT}\" font-size=\"14\" fill=\"#4a4a4a\">no chart: {why}</text></svg>\n",
        w - 1,
        h - 1
    ))
}

fn render(w: u32, h: u32, title: &str, draw: impl FnOnce(&mut String) -> DrawResult) -> Svg {
    let mut buf = String::new();
    match draw(&mut buf) {
        Ok(()) => finish(&buf, w, h, title),
        Err(e) => unavailable(w, h, title, &e.to_string()),
    }
}

/// Shorten a label to `max` characters with an ellipsis (the full text is in the page's tables).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn text_style(size: u32, color: &RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(color)
}

/// Width in pixels plotters' estimate gives text of `chars` characters at 13 px.
fn text_px(chars: usize) -> u32 {
    u32::try_from(chars).unwrap_or(u32::MAX).saturating_mul(15) / 2 + 4
}

/// Draw a legend (a swatch and a name per entry) in a row starting at `(x, y)`.
fn legend_row<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    x: i32,
    y: i32,
    entries: &[(String, ShapeStyle)],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let mut x = x;
    for (name, style) in entries {
        root.draw(&Rectangle::new([(x, y), (x + 14, y + 12)], *style))?;
        let label = clip(name, 40);
        root.draw(&Text::new(
            label.clone(),
            (x + 20, y - 1),
            text_style(16, &INK),
        ))?;
        x += 20 + i32::try_from(text_px(label.chars().count())).unwrap_or(0) + 18;
    }
    Ok(())
}

fn finite_max(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.filter(|v| v.is_finite()).reduce(f64::max)
}

fn finite_min(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.filter(|v| v.is_finite()).reduce(f64::min)
}

/// A range around `[lo, hi]`, widened when it is empty.
fn span(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if hi > lo {
        let p = (hi - lo) * pad;
        (lo - p, hi + p)
    } else {
        let p = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - p, hi + p)
    }
}

/// Overlaid histograms on shared axes: each series gives one value (a share or count) per bin
/// between consecutive `edges`; series are drawn translucent with a solid outline, so overlap
/// stays readable.
///
/// ```
/// use mlops_html::chart::{Series, histogram};
/// let svg = histogram(
///     "age: reference vs current",
///     "age",
///     "share of rows",
///     &[0.0, 10.0, 20.0, 30.0],
///     &[Series::new("reference", vec![0.2, 0.5, 0.3]), Series::new("current", vec![0.1, 0.4, 0.5])],
/// );
/// assert!(svg.as_str().contains("<title>age: reference vs current</title>"));
/// ```
#[must_use]
pub fn histogram(
    title: &str,
    x_label: &str,
    y_label: &str,
    edges: &[f64],
    series: &[Series],
) -> Svg {
    let (w, h) = (560, 300);
    if edges.len() < 2 || series.iter().any(|s| s.values.len() != edges.len() - 1) {
        return unavailable(w, h, title, "no bins");
    }
    let (Some(lo), Some(hi)) = (
        finite_min(edges.iter().copied()),
        finite_max(edges.iter().copied()),
    ) else {
        return unavailable(w, h, title, "no finite values");
    };
    let (x0, x1) = span(lo, hi, 0.0);
    let ymax = finite_max(series.iter().flat_map(|s| s.values.iter().copied()))
        .filter(|m| *m > 0.0)
        .unwrap_or(1.0)
        * 1.12;
    render(w, h, title, |buf| {
        let root = SVGBackend::with_string(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_top(34)
            .x_label_area_size(44)
            .y_label_area_size(62)
            .build_cartesian_2d(x0..x1, 0.0..ymax)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .max_light_lines(2)
            .x_labels(7)
            .y_labels(6)
            .x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| number(*v))
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style(text_style(17, &INK))
            .label_style(text_style(15, &MUTED))
            .draw()?;
        let mut legend = Vec::new();
        for (k, s) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bins = edges.windows(2).zip(&s.values);
            chart.draw_series(bins.clone().filter(|(_, v)| v.is_finite()).map(|(e, v)| {
                Rectangle::new([(e[0], 0.0), (e[1], *v)], color.mix(0.38).filled())
            }))?;
            chart
                .draw_series(bins.filter(|(_, v)| v.is_finite()).map(|(e, v)| {
                    Rectangle::new([(e[0], 0.0), (e[1], *v)], color.stroke_width(2))
                }))?;
            legend.push((s.name.clone(), color.mix(0.6).filled()));
        }
        legend_row(&root, 74, 10, &legend)?;
        root.present()?;
        Ok(())
    })
}

/// Grouped bars: one group per category, one bar per series, and an optional reference line
/// (a threshold).
///
/// ```
/// use mlops_html::chart::{RefLine, Series, bars};
/// let svg = bars(
///     "latency percentiles",
///     "milliseconds",
///     &["p50".into(), "p95".into(), "p99".into()],
///     &[Series::new("latency", vec![1.0, 3.5, 8.0])],
///     Some(&RefLine { label: "p95 limit 5 ms".into(), value: 5.0 }),
/// );
/// assert!(svg.as_str().contains("aria-label=\"latency percentiles\""));
/// ```
#[must_use]
pub fn bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[Series],
    line: Option<&RefLine>,
) -> Svg {
    let n = categories.len();
    let w = u32::try_from(n)
        .unwrap_or(u32::MAX)
        .saturating_mul(64)
        .clamp(440, 620);
    let h = 300;
    if n == 0 || series.is_empty() || series.iter().any(|s| s.values.len() != n) {
        return unavailable(w, h, title, "no categories");
    }
    let top = finite_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .chain(line.map(|l| l.value)),
    )
    .filter(|m| *m > 0.0)
    .unwrap_or(1.0)
        * 1.15;
    let nf = f64::from(u32::try_from(n).unwrap_or(u32::MAX));
    let slot_px = (w - 80) / u32::try_from(n).unwrap_or(1).max(1);
    let max_chars = usize::try_from(slot_px / 7).unwrap_or(4).max(4);
    render(w, h, title, |buf| {
        let root = SVGBackend::with_string(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let keys: Vec<f64> = (0..n)
            .map(|i| f64::from(u32::try_from(i).unwrap_or(0)))
            .collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_top(if series.len() > 1 { 34 } else { 16 })
            .x_label_area_size(36)
            .y_label_area_size(62)
            .build_cartesian_2d(
                Slots {
                    lo: -0.5,
                    hi: nf - 0.5,
                    keys,
                },
                0.0..top,
            )?;
        let label = |v: &f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = v.round().max(0.0) as usize;
            categories
                .get(i)
                .map(|c| clip(c, max_chars))
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .max_light_lines(2)
            .y_labels(6)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| number(*v))
            .y_desc(y_label)
            .axis_desc_style(text_style(17, &INK))
            .label_style(text_style(15, &MUTED))
            .draw()?;
        let k = f64::from(u32::try_from(series.len()).unwrap_or(1));
        let bw = 0.8 / k;
        let mut legend = Vec::new();
        for (j, s) in series.iter().enumerate() {
            let color = PALETTE[j % PALETTE.len()];
            let jf = f64::from(u32::try_from(j).unwrap_or(0));
            chart.draw_series(
                s.values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, v)| {
                        let x = f64::from(u32::try_from(i).unwrap_or(0)) - 0.4 + jf * bw;
                        Rectangle::new([(x, 0.0), (x + bw * 0.92, *v)], color.filled())
                    }),
            )?;
            legend.push((s.name.clone(), color.filled()));
        }
        if let Some(l) = line.filter(|l| l.value.is_finite()) {
            let red = RGBColor(179, 38, 30);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, l.value), (nf - 0.5, l.value)],
                red.stroke_width(2),
            )))?;
            let (px, py) = chart.backend_coord(&(-0.5, l.value));
            root.draw(&Text::new(
                l.label.clone(),
                (px + 4, py - 18),
                text_style(16, &red),
            ))?;
        }
        if series.len() > 1 {
            legend_row(&root, 74, 10, &legend)?;
        }
        root.present()?;
        Ok(())
    })
}

/// Lines over a shared x axis (one per series, markers at the points when there are few), with
/// the legend on the right.
///
/// ```
/// use mlops_html::chart::{LineSeries, lines};
/// let svg = lines(
///     "val_loss",
///     "step",
///     "val_loss",
///     &[LineSeries { name: "run-a".into(), points: vec![(0.0, 0.9), (1.0, 0.7), (2.0, 0.6)] }],
/// );
/// assert!(svg.as_str().contains("run-a"));
/// ```
#[must_use]
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[LineSeries]) -> Svg {
    let longest = series
        .iter()
        .map(|s| s.name.chars().count().min(28))
        .max()
        .unwrap_or(0);
    let legend_w = text_px(longest) + 44;
    let (w, h) = (440 + legend_w, 300);
    let xs = || series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (Some(xlo), Some(xhi), Some(ylo), Some(yhi)) = (
        finite_min(xs()),
        finite_max(xs()),
        finite_min(ys()),
        finite_max(ys()),
    ) else {
        return unavailable(w, h, title, "no finite points");
    };
    let (x0, x1) = span(xlo, xhi, 0.0);
    let (y0, y1) = span(ylo, yhi, 0.06);
    render(w, h, title, |buf| {
        let root = SVGBackend::with_string(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(legend_w + 12)
            .x_label_area_size(44)
            .y_label_area_size(62)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .max_light_lines(2)
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| number(*v))
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style(text_style(17, &INK))
            .label_style(text_style(15, &MUTED))
            .draw()?;
        let lx = i32::try_from(w - legend_w).unwrap_or(0);
        for (k, s) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            chart.draw_series(PlotLine::new(pts.iter().copied(), color.stroke_width(2)))?;
            if pts.len() <= 60 {
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
            }
            let ly = 20 + 22 * i32::try_from(k).unwrap_or(0);
            root.draw(&PathElement::new(
                vec![(lx, ly + 7), (lx + 22, ly + 7)],
                color.stroke_width(3),
            ))?;
            root.draw(&Text::new(
                clip(&s.name, 28),
                (lx + 28, ly),
                text_style(16, &INK),
            ))?;
        }
        root.present()?;
        Ok(())
    })
}

/// What a piece of a Gantt bar stands for (its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// A step that ran and succeeded.
    Ran,
    /// A step restored from a cache.
    Cached,
    /// An attempt that failed and was retried.
    Retried,
    /// The last attempt of a step that failed or timed out.
    Failed,
}

impl SegmentKind {
    fn color(self) -> RGBColor {
        match self {
            Self::Ran => PALETTE[0],
            Self::Cached => PALETTE[5],
            Self::Retried => PALETTE[3],
            Self::Failed => RGBColor(179, 38, 30),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ran => "ran",
            Self::Cached => "cached",
            Self::Retried => "failed attempt (retried)",
            Self::Failed => "failed",
        }
    }
}

/// A piece of a Gantt bar, in the chart's time unit (milliseconds from the start).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start (ms).
    pub start: f64,
    /// End (ms).
    pub end: f64,
    /// Its colour.
    pub kind: SegmentKind,
}

/// One row of a Gantt chart.
#[derive(Debug, Clone, PartialEq)]
pub struct GanttRow {
    /// The row label (a step name).
    pub label: String,
    /// Its pieces; none for a step that did not run.
    pub segments: Vec<Segment>,
    /// Outlined as part of the critical path.
    pub critical: bool,
    /// Text drawn after the bar (duration, status).
    pub note: String,
}

/// A Gantt timeline: one row per step, time (ms from the start) across, the critical path
/// outlined in black, and a legend of the colours used.
#[must_use]
pub fn gantt(title: &str, rows: &[GanttRow]) -> Svg {
    let n = rows.len();
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count().min(30))
        .max()
        .unwrap_or(4);
    let label_w = text_px(longest) + 14;
    let w = 900;
    let h = 110 + 30 * u32::try_from(n).unwrap_or(0);
    if n == 0 {
        return unavailable(w, h, title, "no steps");
    }
    let end = finite_max(rows.iter().flat_map(|r| r.segments.iter().map(|s| s.end)))
        .filter(|e| *e > 0.0)
        .unwrap_or(1.0);
    // Room after the longest bar for its note.
    let x1 = end * 1.3;
    let nf = f64::from(u32::try_from(n).unwrap_or(u32::MAX));
    render(w, h, title, |buf| {
        let root = SVGBackend::with_string(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let keys: Vec<f64> = (0..n)
            .map(|i| nf - 0.5 - f64::from(u32::try_from(i).unwrap_or(0)))
            .collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_top(40)
            .x_label_area_size(44)
            .y_label_area_size(label_w)
            .build_cartesian_2d(
                0.0..x1,
                Slots {
                    lo: 0.0,
                    hi: nf,
                    keys,
                },
            )?;
        let label = |v: &f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = (nf - 0.5 - v).round().max(0.0) as usize;
            rows.get(i).map(|r| clip(&r.label, 30)).unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .max_light_lines(2)
            .x_labels(8)
            .x_label_formatter(&|v| duration_ms(*v))
            .y_label_formatter(&label)
            .x_desc("time since the run started")
            .axis_desc_style(text_style(17, &INK))
            .label_style(text_style(15, &INK))
            .draw()?;
        let mut used = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let yc = nf - 0.5 - f64::from(u32::try_from(i).unwrap_or(0));
            let (ya, yb) = (yc - 0.32, yc + 0.32);
            for s in r
                .segments
                .iter()
                .filter(|s| s.start.is_finite() && s.end.is_finite())
            {
                // A bar at least a pixel or two wide, so an instant step stays visible.
                let e = s.end.max(s.start + x1 / 400.0);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(s.start, ya), (e, yb)],
                    s.kind.color().filled(),
                )))?;
                if !used.contains(&s.kind) {
                    used.push(s.kind);
                }
            }
            let right = r
                .segments
                .iter()
                .map(|s| s.end.max(s.start + x1 / 400.0))
                .fold(0.0, f64::max);
            if r.critical
                && let Some(left) = finite_min(r.segments.iter().map(|s| s.start))
            {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(left, ya - 0.1), (right, yb + 0.1)],
                    INK.stroke_width(3),
                )))?;
            }
            let (px, py) = chart.backend_coord(&(right, yc));
            root.draw(&Text::new(
                r.note.clone(),
                (px + 6, py - 8),
                text_style(15, &INK),
            ))?;
        }
        let mut legend: Vec<(String, ShapeStyle)> = [
            SegmentKind::Ran,
            SegmentKind::Cached,
            SegmentKind::Retried,
            SegmentKind::Failed,
        ]
        .into_iter()
        .filter(|k| used.contains(k))
        .map(|k| (k.name().to_owned(), k.color().filled()))
        .collect();
        if rows.iter().any(|r| r.critical) {
            legend.push(("critical path (outlined)".to_owned(), INK.stroke_width(2)));
        }
        legend_row(&root, i32::try_from(label_w).unwrap_or(0) + 12, 12, &legend)?;
        root.present()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_deterministic_and_labelled() {
        let s = [
            Series::new("reference", vec![0.1, 0.6, 0.3]),
            Series::new("<b>current</b>", vec![0.3, 0.3, 0.4]),
        ];
        let a = histogram("t <x>", "x", "share", &[0.0, 1.0, 2.0, 3.0], &s);
        let b = histogram("t <x>", "x", "share", &[0.0, 1.0, 2.0, 3.0], &s);
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("<svg class=\"chart\""));
        assert!(a.as_str().contains("<title>t &lt;x&gt;</title>"));
        assert!(a.as_str().contains("&lt;b&gt;current&lt;/b&gt;"));
        assert!(!a.as_str().contains("<b>"));
        assert_eq!(a.as_str().matches("<svg").count(), 1);
        assert!(a.as_str().trim_end().ends_with("</svg>"));
    }

    #[test]
    fn degenerate_input_draws_a_note_not_a_panic() {
        let s = histogram("t", "x", "y", &[1.0], &[]);
        assert!(s.as_str().contains("no chart: no bins"));
        let s = lines(
            "t",
            "x",
            "y",
            &[LineSeries {
                name: "a".into(),
                points: vec![(f64::NAN, 1.0)],
            }],
        );
        assert!(s.as_str().contains("no chart"));
        // One point, all bins equal, zero-length bars: drawn.
        let s = lines(
            "t",
            "x",
            "y",
            &[LineSeries {
                name: "a".into(),
                points: vec![(3.0, 1.0)],
            }],
        );
        assert!(!s.as_str().contains("no chart"), "{}", s.as_str());
        let s = histogram("t", "x", "y", &[5.0, 5.0], &[Series::new("a", vec![0.0])]);
        assert!(!s.as_str().contains("no chart"), "{}", s.as_str());
        let s = bars(
            "t",
            "y",
            &["a".into()],
            &[Series::new("a", vec![f64::NAN])],
            None,
        );
        assert!(!s.as_str().contains("no chart"), "{}", s.as_str());
        let g = gantt(
            "t",
            &[GanttRow {
                label: "a".into(),
                segments: vec![],
                critical: false,
                note: "skipped".into(),
            }],
        );
        assert!(!g.as_str().contains("no chart"), "{}", g.as_str());
    }
}
