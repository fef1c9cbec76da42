//! The typed HTML builder: elements with static tag and attribute names, text that is always
//! escaped, and raw markup only for the SVG the [`chart`](crate::chart) module draws.

use std::fmt::Write as _;

/// SVG markup drawn by this crate's chart functions: the only raw markup a page may hold.
///
/// It cannot be built from a string outside this crate, so data never reaches a page unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(pub(crate) String);

impl Svg {
    /// The markup.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A piece of an HTML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Text, escaped when rendered.
    Text(String),
    /// A chart.
    Svg(Svg),
}

impl From<Element> for Node {
    fn from(e: Element) -> Self {
        Self::Element(e)
    }
}

impl From<Svg> for Node {
    fn from(s: Svg) -> Self {
        Self::Svg(s)
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

/// Elements without content or end tag.
const VOID: &[&str] = &["br", "hr", "img", "meta", "link", "col", "wbr", "input"];

/// An HTML element: a tag and attribute names fixed in code, attribute values and text from
/// anywhere (escaped when rendered).
///
/// ```
/// use mlops_html::el;
/// let html = el("p").class("note").text("<script>alert(1)</script>").render();
/// assert_eq!(html, "<p class=\"note\">&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    tag: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<Node>,
}

/// A new element `<tag>`.
#[must_use]
pub fn el(tag: &'static str) -> Element {
    Element {
        tag,
        attrs: Vec::new(),
        children: Vec::new(),
    }
}

impl Element {
    /// Set an attribute (its value is escaped).
    #[must_use]
    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }

    /// Set the `class` attribute.
    #[must_use]
    pub fn class(self, class: impl Into<String>) -> Self {
        self.attr("class", class)
    }

    /// Append a child.
    #[must_use]
    pub fn child(mut self, node: impl Into<Node>) -> Self {
        self.children.push(node.into());
        self
    }

    /// Append a child when there is one.
    #[must_use]
    pub fn child_opt(self, node: Option<impl Into<Node>>) -> Self {
        match node {
            Some(n) => self.child(n),
            None => self,
        }
    }

    /// Append children.
    #[must_use]
    pub fn children<N: Into<Node>>(mut self, nodes: impl IntoIterator<Item = N>) -> Self {
        self.children.extend(nodes.into_iter().map(Into::into));
        self
    }

    /// Append text (escaped).
    #[must_use]
    pub fn text(self, text: impl Into<String>) -> Self {
        self.child(Node::Text(text.into()))
    }

    /// Append a child in place.
    pub fn push(&mut self, node: impl Into<Node>) {
        self.children.push(node.into());
    }

    /// The markup.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    /// Append the markup to `out`.
    pub fn render_into(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.tag);
        for (name, value) in &self.attrs {
            let _ = write!(out, " {name}=\"");
            escape_into(out, value);
            out.push('"');
        }
        out.push('>');
        if VOID.contains(&self.tag) {
            return;
        }
        for c in &self.children {
            match c {
                Node::Element(e) => e.render_into(out),
                Node::Text(t) => escape_into(out, t),
                Node::Svg(s) => out.push_str(&s.0),
            }
        }
        let _ = write!(out, "</{}>", self.tag);
        // Block-level elements end a line, so the file diffs line by line.
        if matches!(
            self.tag,
            "section" | "tr" | "table" | "p" | "h1" | "h2" | "h3" | "div" | "ul" | "li" | "figure"
        ) {
            out.push('\n');
        }
    }
}

/// Escape text for HTML content and attribute values: `& < > " '` become entities, and control
/// characters other than tab and line breaks (which HTML does not allow) become U+FFFD.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let h = el("td")
            .attr("title", "a\"b' <c>")
            .text("<script>alert(1)</script> & \u{1}")
            .render();
        assert_eq!(
            h,
            "<td title=\"a&quot;b&#39; &lt;c&gt;\">&lt;script&gt;alert(1)&lt;/script&gt; &amp; \u{FFFD}</td>"
        );
    }

    #[test]
    fn void_elements_have_no_end_tag() {
        assert_eq!(el("br").render(), "<br>");
        assert_eq!(el("p").child(el("br")).text("x").render(), "<p><br>x</p>\n");
    }
}
