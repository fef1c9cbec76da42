//! The page every report uses: one skeleton (inline CSS with a print stylesheet, `lang`,
//! `<title>`) and the pieces reports are made of (sections, summary tiles, badges, tables,
//! figures).

use crate::node::{Element, Node, Svg, el, escape_into};

/// The inline stylesheet: system fonts, contrast of at least 7:1 for body text and 4.5:1 for
/// badges (WCAG AA), tables that wrap long names instead of overflowing, and a print stylesheet.
const CSS: &str = r"
:root{--fg:#1a1a1a;--muted:#4a4a4a;--line:#c8c8c8;--bg:#fff;--head:#f2f4f7;--accent:#0b4f8a}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:1.7rem;margin:0 0 4px;line-height:1.25;overflow-wrap:anywhere}
h2{font-size:1.3rem;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid var(--line);overflow-wrap:anywhere}
h3{font-size:1.08rem;margin:22px 0 6px;overflow-wrap:anywhere}
p{margin:6px 0;overflow-wrap:anywhere}
.meta{color:var(--muted);margin:0 0 12px}
.meta span{margin-right:18px;display:inline-block}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.tile{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:150px;flex:1 1 150px;max-width:260px}
.tile .v{font-size:1.45rem;font-weight:650;display:block;overflow-wrap:anywhere}
.tile .k{color:var(--muted);font-size:.86rem}
.tile.good{border-left:6px solid #1e7b3a}.tile.bad{border-left:6px solid #b3261e}.tile.warn{border-left:6px solid #a15c00}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.82rem;font-weight:650;white-space:nowrap;border:1px solid transparent}
.good{color:#0f5a26}.badge.good{background:#e3f3e7;border-color:#9ccca9}
.bad{color:#8c1d18}.badge.bad{background:#fbe6e4;border-color:#e3a59f}
.warn{color:#6b3d00}.badge.warn{background:#fff1d6;border-color:#e0bd7a}
.neutral{color:#3d3d3d}.badge.neutral{background:#eeeeee;border-color:#c4c4c4}
.info{color:#0b3f6e}.badge.info{background:#e3eefa;border-color:#9dbde0}
.scroll{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.92rem;max-width:100%}
caption{text-align:left;font-weight:600;padding:4px 0;color:var(--fg)}
th,td{border:1px solid var(--line);padding:5px 9px;text-align:left;vertical-align:top;overflow-wrap:break-word}
thead th{background:var(--head);overflow-wrap:normal}
tbody th{font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.diff td,tr.diff th{background:#fff6db}
figure{margin:8px 0 16px}
figcaption{color:var(--muted);font-size:.88rem}
svg.chart{display:block;max-width:100%;height:auto}
.grid{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:18px;align-items:start}
@media (max-width:900px){.grid{grid-template-columns:minmax(0,1fr)}}
.col{border:1px solid var(--line);border-radius:6px;padding:4px 14px 8px;margin:14px 0;break-inside:avoid}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,480px),1fr));gap:0 18px}
.cards>.col{margin:8px 0}
details summary{cursor:pointer;color:var(--accent)}
footer{margin-top:36px;color:var(--muted);font-size:.85rem}
@media print{
 body{font-size:11pt;color:#000}
 main{max-width:none;padding:0}
 h2{break-after:avoid}
 figure,table,.col,.tile{break-inside:avoid}
 .scroll{overflow:visible}
 details{display:block}
 a{color:#000}
 @page{margin:14mm}
}
";

/// The tone of a badge, tile or table cell: the colour carries the verdict, the text says it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Passed, no drift, improved.
    Good,
    /// Failed, drifted, regressed.
    Bad,
    /// Worse but tolerated, retried.
    Warn,
    /// Skipped, not applicable.
    Neutral,
    /// Cached, informational.
    Info,
}

impl Tone {
    /// The CSS class.
    #[must_use]
    pub fn class(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Bad => "bad",
            Self::Warn => "warn",
            Self::Neutral => "neutral",
            Self::Info => "info",
        }
    }
}

/// A report page: a title, a line of facts under it, and sections.
///
/// ```
/// use mlops_html::{Page, badge, Tone, section};
/// let html = Page::new("Drift of <orders>")
///     .fact("rows", "1000")
///     .section(section("Summary").child(badge(Tone::Good, "no drift")))
///     .render();
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// assert!(html.contains("<title>Drift of &lt;orders&gt;</title>"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    title: String,
    facts: Vec<(String, String)>,
    body: Vec<Node>,
    footer: Option<String>,
}

impl Page {
    /// A page titled `title` (the `<title>` and the `<h1>`).
    #[must_use]
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            facts: Vec::new(),
            body: Vec::new(),
            footer: None,
        }
    }

    /// A `label: value` fact shown under the title.
    #[must_use]
    pub fn fact(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.push((label.into(), value.into()));
        self
    }

    /// Append a section (or any element).
    #[must_use]
    pub fn section(mut self, section: impl Into<Node>) -> Self {
        self.body.push(section.into());
        self
    }

    /// The footer line (which tool made the report).
    #[must_use]
    pub fn footer(mut self, text: impl Into<String>) -> Self {
        self.footer = Some(text.into());
        self
    }

    /// The whole document: same page, same bytes.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str("<meta name=\"color-scheme\" content=\"light\">\n<title>");
        escape_into(&mut out, &self.title);
        out.push_str("</title>\n<style>");
        out.push_str(CSS);
        out.push_str("</style>\n</head>\n<body>\n<main>\n");
        el("h1").text(self.title.clone()).render_into(&mut out);
        out.push('\n');
        if !self.facts.is_empty() {
            let mut p = el("p").class("meta");
            for (k, v) in &self.facts {
                p.push(
                    el("span")
                        .child(el("strong").text(format!("{k}:")))
                        .text(format!(" {v}")),
                );
            }
            p.render_into(&mut out);
        }
        for n in &self.body {
            match n {
                Node::Element(e) => e.render_into(&mut out),
                Node::Text(t) => escape_into(&mut out, t),
                Node::Svg(s) => out.push_str(s.as_str()),
            }
        }
        if let Some(f) = &self.footer {
            el("footer").text(f.clone()).render_into(&mut out);
            out.push('\n');
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}

/// A `<section>` with an `<h2>` heading.
#[must_use]
pub fn section(heading: impl Into<String>) -> Element {
    el("section").child(el("h2").text(heading))
}

/// A small coloured label; the text carries the meaning, the colour repeats it.
#[must_use]
pub fn badge(tone: Tone, text: impl Into<String>) -> Element {
    el("span")
        .class(format!("badge {}", tone.class()))
        .text(text)
}

/// A summary tile: a big value over a small label.
#[must_use]
pub fn tile(label: impl Into<String>, value: impl Into<String>, tone: Option<Tone>) -> Element {
    let class = match tone {
        Some(t) => format!("tile {}", t.class()),
        None => "tile".to_owned(),
    };
    el("div")
        .class(class)
        .child(el("span").class("v").text(value))
        .child(el("span").class("k").text(label))
}

/// A row of summary tiles.
#[must_use]
pub fn tiles(items: impl IntoIterator<Item = Element>) -> Element {
    el("div").class("tiles").children(items)
}

/// A chart with a visible caption (the chart's own `<title>` is its accessible name).
#[must_use]
pub fn figure(chart: Svg, caption: impl Into<String>) -> Element {
    el("figure")
        .child(chart)
        .child(el("figcaption").text(caption))
}

/// A table cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    content: Node,
    class: Option<String>,
}

impl Cell {
    /// A text cell.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: Node::Text(text.into()),
            class: None,
        }
    }

    /// A right-aligned number cell.
    #[must_use]
    pub fn num(text: impl Into<String>) -> Self {
        Self::text(text).with_class("num")
    }

    /// A cell holding an element (a badge, a link).
    #[must_use]
    pub fn node(node: impl Into<Node>) -> Self {
        Self {
            content: node.into(),
            class: None,
        }
    }

    /// Add a CSS class.
    #[must_use]
    pub fn with_class(mut self, class: &str) -> Self {
        self.class = Some(match self.class {
            Some(c) => format!("{c} {class}"),
            None => class.to_owned(),
        });
        self
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Self::text(s)
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Self::text(s)
    }
}

impl From<Element> for Cell {
    fn from(e: Element) -> Self {
        Self::node(e)
    }
}

/// A table a screen reader can read: a `<caption>`, column headers with `scope="col"`, and the
/// first cell of each row a row header with `scope="row"`. Wrapped in a horizontally scrolling
/// box so a wide table never widens the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    caption: String,
    head: Vec<String>,
    rows: Vec<(Option<&'static str>, Vec<Cell>)>,
}

impl Table {
    /// A table with a caption and column headers.
    #[must_use]
    pub fn new<S: Into<String>>(
        caption: impl Into<String>,
        head: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            caption: caption.into(),
            head: head.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; its first cell is the row header.
    pub fn row(&mut self, cells: impl IntoIterator<Item = Cell>) {
        self.rows.push((None, cells.into_iter().collect()));
    }

    /// Append a row with a CSS class on the `<tr>` (`diff` highlights it).
    pub fn row_with_class(&mut self, class: &'static str, cells: impl IntoIterator<Item = Cell>) {
        self.rows.push((Some(class), cells.into_iter().collect()));
    }

    /// Whether the table has no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table element (in its scrolling box).
    #[must_use]
    pub fn build(self) -> Element {
        let head = el("tr").children(
            self.head
                .into_iter()
                .map(|h| el("th").attr("scope", "col").text(h)),
        );
        let mut body = el("tbody");
        for (class, cells) in self.rows {
            let mut tr = el("tr");
            if let Some(c) = class {
                tr = tr.class(c);
            }
            for (i, cell) in cells.into_iter().enumerate() {
                let mut td = if i == 0 {
                    el("th").attr("scope", "row")
                } else {
                    el("td")
                };
                if let Some(c) = cell.class {
                    td = td.class(c);
                }
                tr.push(td.child(cell.content));
            }
            body.push(tr);
        }
        el("div").class("scroll").child(
            el("table")
                .child(el("caption").text(self.caption))
                .child(el("thead").child(head))
                .child(body),
        )
    }
}

impl From<Table> for Node {
    fn from(t: Table) -> Self {
        Node::Element(t.build())
    }
}
