//! # mlops-html
//!
//! What every HTML report of the mlops crates needs, once: a small typed HTML builder (text
//! and attribute values are always escaped; the only raw markup is the SVG drawn by
//! [`chart`]), one page skeleton (inline CSS with a print stylesheet, `lang`, `<title>`, tables
//! with `<caption>` and `<th scope>`), and SVG charts drawn with plotters' SVG backend.
//!
//! ```
//! use mlops_html::chart::{Series, histogram};
//! use mlops_html::{Cell, Page, Table, Tone, badge, figure, section};
//!
//! let mut table = Table::new("Columns", ["column", "verdict"]);
//! table.row([Cell::text("<script>alert(1)</script>"), badge(Tone::Bad, "drift").into()]);
//! let chart = histogram(
//!     "age",
//!     "age",
//!     "share of rows",
//!     &[0.0, 50.0, 100.0],
//!     &[Series::new("reference", vec![0.5, 0.5]), Series::new("current", vec![0.2, 0.8])],
//! );
//! let html = Page::new("Data drift")
//!     .section(section("Columns").child(table.build()).child(figure(chart, "age")))
//!     .render();
//! assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
//! assert!(!html.contains("<script>"));
//! ```
//!
//! Reports are one self-contained file: no network, no CDN, no script. The same input gives
//! the same bytes (no timestamps, no hash-map order), so reports can be diffed.
//!
//! ## Why plotters
//! plotters is the most used Rust charting crate, maintained, and its SVG backend alone
//! (`default-features = false, features = ["svg_backend", "line_series"]`) pulls in no font
//! loader and no system library: it estimates text width itself and writes SVG `<text>`,
//! which the browser lays out with its own fonts, so a chart draws the same on a fresh machine.
//! It also escapes the text it writes.
//!
//! ## Backends
//! None: this crate has no storage. Reports render to a `String`; the domain crates write it.
//!
//! ## Errors
//! Rendering cannot fail: a chart without drawable data (no bins, no finite values) is an SVG
//! that says so.
//!
//! ## Crash safety
//! Nothing is written here; the crates that write reports write them atomically.

#[cfg(feature = "browser-check")]
pub mod browser;
pub mod chart;
pub mod format;
mod node;
mod page;

pub use crate::node::{Element, Node, Svg, el, escape};
pub use crate::page::{Cell, Page, Table, Tone, badge, figure, section, tile, tiles};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
