//! HTML building blocks of the web UI: escaping, links, the page frame.
//!
//! Everything shown comes from submitted reports, so every piece of text
//! goes through [`esc`] (element content and attribute values alike) and
//! every query value through [`query_value`]. No scripts, no external assets:
//! the style sheet is inline.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::verdict::Verdict;

/// `s` escaped for HTML text and double- or single-quoted attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` percent-encoded for a query string value (everything but unreserved bytes).
pub(super) fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A link to the page of a derivation or output path, showing the path.
pub(super) fn path_link(path: &str) -> String {
    format!("<a class=\"path\" href=\"/ui/derivation?path={}\">{}</a>", esc(&query_value(path)), esc(path))
}

/// A link to a builder's page.
pub(super) fn builder_link(name: &str) -> String {
    format!("<a href=\"/ui/builders/{}\">{}</a>", esc(&query_value(name)), esc(name))
}

/// A verdict as a coloured badge; the word itself is the text.
pub(super) fn badge(v: Verdict) -> String {
    let word = match v {
        Verdict::Reproduced => "reproduced",
        Verdict::Disputed => "disputed",
        Verdict::Single => "single",
        Verdict::Unknown => "unknown",
    };
    format!("<span class=\"verdict {word}\">{word}</span>")
}

/// A rate as a percentage with one decimal, or `n/a` when nothing was compared.
pub(super) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 { "n/a".to_owned() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#222;background:#fafafa}\
header{background:#234;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}\
header a{color:#fff}header form{margin-left:auto}main{padding:1em;max-width:80em}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#eee}.path,code{font-family:monospace;font-size:.9em;word-break:break-all}\
.verdict{padding:.1em .5em;border-radius:.3em;font-weight:bold;color:#fff}\
.reproduced{background:#2a7d2e}.disputed{background:#b3261e}.single{background:#8a6d00}.unknown{background:#666}\
.stats{display:flex;gap:1em;flex-wrap:wrap}.stat{background:#fff;border:1px solid #ccc;padding:.5em 1em}\
.stat b{display:block;font-size:1.6em}pre{background:#fff;border:1px solid #ccc;padding:.5em;overflow-x:auto}";

/// A whole page: title, navigation with the search form, and `body`.
pub(super) fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} - provenix log</title><style>{STYLE}</style></head><body>\
<header><strong>provenix rebuild log</strong><a href=\"/\">Overview</a>\
<a href=\"/ui/disagreements\">Disagreements</a><a href=\"/ui/builders\">Builders</a>\
<form action=\"/ui/search\" method=\"get\"><input type=\"search\" name=\"q\" \
placeholder=\"store path or name\" aria-label=\"search\"> <button type=\"submit\">Search</button></form></header>\
<main><h1>{t}</h1>{body}</main></body></html>\n",
        t = esc(title),
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing is loaded from anywhere but this page; no scripts at all.
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\" title='y'>&</a>"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("/nix/store/abc-a b&c=d+é"), "/nix/store/abc-a%20b%26c%3Dd%2B%C3%A9");
    }

    #[test]
    fn percentages_say_na_for_nothing_compared() {
        assert_eq!((percent(1, 3), percent(0, 0)), ("33.3%".to_owned(), "n/a".to_owned()));
    }
}
