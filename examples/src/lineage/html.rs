//! The lineage as one self-contained HTML page (`lineage --html FILE`): the chain drawn as a
//! graph (inputs → run → model version, as inline SVG built with `mlops-html`'s escaping
//! builder), then the details as tables.

use mlops_html::{Cell, Element, Page, Table, Tone, badge, el, section};

use super::Lineage;

const BOX_W: u32 = 320;
const BOX_H: u32 = 58;
const GAP_Y: u32 = 18;
const COLS: [u32; 3] = [10, 400, 790];
/// At most this many input boxes are drawn (the table lists every input).
const MAX_BOXES: usize = 40;

/// Shorten `s` to `n` characters (an ellipsis marks the cut; the tables keep the full text).
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn colours(tone: Tone) -> (&'static str, &'static str) {
    match tone {
        Tone::Good => ("#e8f5e9", "#2e7d32"),
        Tone::Bad => ("#ffebee", "#c62828"),
        Tone::Warn => ("#fff8e1", "#b26a00"),
        _ => ("#eef3fb", "#3b5b92"),
    }
}

/// One box of the graph: a title line and a detail line.
fn node(at: (u32, u32), title: &str, detail: &str, tone: Tone) -> Element {
    let (x, y) = at;
    let (fill, stroke) = colours(tone);
    el("g")
        .child(
            el("rect")
                .attr("x", x.to_string())
                .attr("y", y.to_string())
                .attr("width", BOX_W.to_string())
                .attr("height", BOX_H.to_string())
                .attr("rx", "6")
                .attr("fill", fill)
                .attr("stroke", stroke)
                .attr("stroke-width", "1.5"),
        )
        .child(
            el("text")
                .attr("x", (x + 10).to_string())
                .attr("y", (y + 22).to_string())
                .attr("font-size", "13")
                .attr("font-weight", "bold")
                .attr("fill", "#222")
                .text(cut(title, 40)),
        )
        .child(
            el("text")
                .attr("x", (x + 10).to_string())
                .attr("y", (y + 43).to_string())
                .attr("font-size", "11")
                .attr("fill", "#444")
                .text(cut(detail, 48)),
        )
}

/// An arrow from the right edge of one box to the left edge of another.
fn arrow(from: (u32, u32), to: (u32, u32)) -> Element {
    let (x1, y1) = (from.0 + BOX_W, from.1 + BOX_H / 2);
    let (x2, y2) = (to.0, to.1 + BOX_H / 2);
    el("g")
        .child(
            el("line")
                .attr("x1", x1.to_string())
                .attr("y1", y1.to_string())
                .attr("x2", (x2 - 8).to_string())
                .attr("y2", y2.to_string())
                .attr("stroke", "#666")
                .attr("stroke-width", "1.5"),
        )
        .child(el("polygon").attr("fill", "#666").attr(
            "points",
            format!("{x2},{y2} {},{} {},{}", x2 - 9, y2 - 5, x2 - 9, y2 + 5),
        ))
}

fn tone_of(matches: Option<bool>) -> Tone {
    match matches {
        Some(true) => Tone::Good,
        Some(false) => Tone::Warn,
        None => Tone::Bad,
    }
}

/// The chain as an SVG graph.
fn graph(l: &Lineage) -> Element {
    let mut inputs: Vec<(String, String, Tone)> = Vec::new();
    for d in &l.datasets {
        let version = d
            .version
            .map_or_else(|| "?".to_owned(), |v| format!("v{v}"));
        inputs.push((
            format!("dataset {} {version} ({})", d.name, d.context),
            format!("sha256 {}", d.sha256),
            tone_of(d.workspace_matches),
        ));
    }
    for g in &l.features {
        inputs.push((
            format!(
                "feature group {}",
                g.source.trim_start_matches("features://")
            ),
            format!("definition {}", g.digest),
            tone_of(g.definition_matches),
        ));
    }
    for i in &l.other_inputs {
        inputs.push((
            format!("input {} ({})", i.dataset.name, i.context),
            i.dataset.source.clone(),
            Tone::Neutral,
        ));
    }
    if inputs.is_empty() {
        inputs.push((
            "inputs unknown".to_owned(),
            "see Missing or unknown".to_owned(),
            Tone::Bad,
        ));
    }
    inputs.truncate(MAX_BOXES);
    let rows = u32::try_from(inputs.len()).unwrap_or(1);
    let height = rows * (BOX_H + GAP_Y) + GAP_Y;
    let mid = (height - BOX_H) / 2;
    let run_at = (COLS[1], mid);
    let version_at = (COLS[2], mid);
    let mut svg = el("svg")
        .class("chart")
        .attr("role", "img")
        .attr("viewBox", format!("0 0 {} {height}", COLS[2] + BOX_W + 10))
        .attr("width", "100%")
        .attr("preserveAspectRatio", "xMinYMin meet")
        .child(el("title").text(format!("Lineage of {}", l.version.uri)));
    for (i, (title, detail, tone)) in inputs.iter().enumerate() {
        let y = GAP_Y + u32::try_from(i).unwrap_or(0) * (BOX_H + GAP_Y);
        svg.push(node((COLS[0], y), title, detail, *tone));
        svg.push(arrow((COLS[0], y), run_at));
    }
    let (run_title, run_detail, run_tone) = match &l.run {
        Some(r) if r.lifecycle == "deleted" => (
            format!("run {} (deleted)", r.name),
            r.run_id.clone(),
            Tone::Warn,
        ),
        Some(r) => (
            format!("run {} ({})", r.name, r.status),
            r.run_id.clone(),
            Tone::Good,
        ),
        None => (
            "run missing".to_owned(),
            l.version.run_id.clone().unwrap_or_default(),
            Tone::Bad,
        ),
    };
    svg.push(node(run_at, &run_title, &run_detail, run_tone));
    svg.push(arrow(run_at, version_at));
    let aliases: String = l.version.aliases.iter().map(|a| format!(" @{a}")).collect();
    svg.push(node(
        version_at,
        &format!("{}{aliases}", l.version.uri.trim_start_matches("models:/")),
        &format!("stage {}", l.version.stage),
        Tone::Info,
    ));
    el("figure").child(svg).child(el("figcaption").text(
        "Inputs (green: the workspace or store still holds them; amber: changed since; red: \
         unknown) feed the run that made the model version",
    ))
}

/// The whole page: same lineage, same bytes.
#[must_use]
pub fn render(l: &Lineage) -> String {
    let mut page = Page::new(format!("Lineage of {}", l.uri))
        .fact("model version", &l.version.uri)
        .fact("source", &l.version.source)
        .section(section("Chain").child(graph(l)));
    if let Some(r) = &l.run {
        let mut t = Table::new("Run", ["field", "value"]);
        let or = |o: &Option<String>| o.clone().unwrap_or_else(|| "not recorded".into());
        for (k, v) in [
            ("run id", r.run_id.clone()),
            ("name", r.name.clone()),
            ("status", r.status.clone()),
            ("lifecycle", r.lifecycle.clone()),
            ("code version", or(&r.code_version)),
            ("git commit", or(&r.git_commit)),
            ("pipeline run", or(&r.pipeline_run)),
        ] {
            t.row([Cell::text(k), Cell::text(v)]);
        }
        for (k, v) in &r.params {
            t.row([Cell::text(format!("param {k}")), Cell::text(v)]);
        }
        for (k, v) in &r.metrics {
            t.row([
                Cell::text(format!("metric {k}")),
                Cell::num(format!("{v:.4}")),
            ]);
        }
        page = page.section(section("Run").child(t.build()));
    }
    let mut t = Table::new("Inputs", ["input", "source", "state"]);
    for d in &l.datasets {
        t.row([
            Cell::text(format!("{} ({})", d.name, d.context)),
            Cell::text(&d.source),
            Cell::node(badge(tone_of(d.workspace_matches), &d.workspace)),
        ]);
    }
    for g in &l.features {
        let text = match (g.current_version, g.definition_matches) {
            (Some(n), Some(true)) => format!("store holds v{n}, same definition"),
            (Some(n), _) => format!("store holds v{n}, definition changed"),
            _ => "not in the feature store".to_owned(),
        };
        t.row([
            Cell::text(format!("feature group (definition {})", g.digest)),
            Cell::text(&g.source),
            Cell::node(badge(tone_of(g.definition_matches), text)),
        ]);
    }
    page = page.section(section("Inputs").child(t.build()));
    if let Some(v) = &l.verify {
        let mut t = Table::new("Reproducibility check", ["result", "input"]);
        for ok in &v.ok {
            t.row([Cell::node(badge(Tone::Good, "ok")), Cell::text(ok)]);
        }
        for p in &v.problems {
            t.row([Cell::node(badge(Tone::Bad, "problem")), Cell::text(p)]);
        }
        page = page.section(section("Verify").child(t.build()));
    }
    if !l.missing.is_empty() {
        let list = el("ul").children(l.missing.iter().map(|m| el("li").text(m)));
        page = page.section(section("Missing or unknown").child(list));
    }
    page.footer("mlops-examples lineage").render()
}
