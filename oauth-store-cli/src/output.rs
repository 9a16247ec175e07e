//! Printing: results on stdout (text or JSON), notes and warnings on stderr.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::Write;

use oauth_store::store_core::{Clock, SystemClock};

/// Writes one line on stdout. A closed pipe (`oauth-store list | head -1`) is not an error.
pub(crate) fn line(text: impl Display) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// Writes a JSON value on stdout, pretty-printed.
pub(crate) fn json(value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes");
    line(text);
}

/// A warning on stderr (`warning: TEXT`), also under `--json`: stdout stays parseable.
pub(crate) fn warn(text: impl Display) {
    eprintln!(
        "warning: {}",
        shown(&crate::error::one_line(&text.to_string()))
    );
}

/// A note on stderr (`note: TEXT`).
pub(crate) fn note(text: impl Display) {
    eprintln!(
        "note: {}",
        shown(&crate::error::one_line(&text.to_string()))
    );
}

/// Text as one line of output may show it: control characters (a newline that would
/// forge a line, an escape that would drive the terminal) and the invisible Unicode
/// marks that reorder text are written as Rust escapes (`\n`, `\u{1b}`). Names and paths
/// come from the command line and from documents: no input decides what a line says.
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    let hostile = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hostile(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path as one line of output may show it (see [`shown`]).
pub(crate) fn path(path: &std::path::Path) -> String {
    shown(&path.display().to_string()).into_owned()
}

/// A server URL as output may show it: user info and query values masked
/// ([`oauth_store::store_core::display_server_url`]), control characters escaped.
pub(crate) fn url(url: &str) -> String {
    shown(&oauth_store::store_core::display_server_url(url)).into_owned()
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemClock.now_ms()
}

/// Whole seconds until `expires_at` (ms since the Unix epoch) at `now_ms`, rounded down:
/// negative once expired, `None` when the expiry is unknown.
pub(crate) fn expires_in_s(expires_at: Option<u64>, now_ms: u64) -> Option<i64> {
    expires_at.map(|at| {
        let ms = i128::from(at) - i128::from(now_ms);
        i64::try_from(ms.div_euclid(1000)).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
    })
}

/// `in 59m 3s`, `expired 2h 5m ago`, or `unknown`.
pub(crate) fn describe_expiry(expires_in_s: Option<i64>) -> String {
    match expires_in_s {
        None => "unknown".to_owned(),
        Some(s) if s < 0 => format!("expired {} ago", human_duration(s.unsigned_abs())),
        Some(s) => format!("in {}", human_duration(s.unsigned_abs())),
    }
}

/// A phrase after "the access token": `expires in 59m 3s`, `expired 2h 5m ago`, or
/// `has no known expiry`.
pub(crate) fn expiry_phrase(expires_in_s: Option<i64>) -> String {
    match expires_in_s {
        None => "has no known expiry".to_owned(),
        Some(s) if s < 0 => describe_expiry(Some(s)),
        Some(s) => format!("expires {}", describe_expiry(Some(s))),
    }
}

/// `3s`, `4m 10s`, `2h 5m`, `3d 4h`.
pub(crate) fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Renders rows as columns separated by two spaces, the first row being the header.
/// Every cell is [`shown`]: no cell can break a row or add one.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| shown(c).into_owned()).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            // Padded by hand: `format!`'s width is limited to u16 (a stored name may be
            // longer), and a panic is no way to print a table.
            .map(|(c, cell)| {
                let pad = widths[c].saturating_sub(cell.chars().count());
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.pop();
    out
}
