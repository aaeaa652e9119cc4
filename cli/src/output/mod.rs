//! Printing for people (aligned tables) and for scripts (JSON), to stdout.

pub mod table;

use std::io::Write;

use serde::Serialize;

/// Writes `value` as one line of JSON.
pub fn json<T: Serialize>(value: &T) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")
}

/// Writes one line.
pub fn line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}
