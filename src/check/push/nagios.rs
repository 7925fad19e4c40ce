//! Nagios: passive results written to the external command file, one
//! `PROCESS_SERVICE_CHECK_RESULT` line per evaluation.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::OFlags;

use crate::check::eval::Evaluation;

/// The external command for one result: host = target (or resource) name, service = check
/// name, and the plugin line with its newlines escaped as Nagios reads them.
pub fn command_line(host: &str, service: &str, ev: &Evaluation, now: i64) -> String {
    format!(
        "[{now}] PROCESS_SERVICE_CHECK_RESULT;{host};{service};{};{}\n",
        ev.status.code(),
        ev.line().replace('\n', "\\n")
    )
}

/// Writes one passive result to a Nagios external command file. The file is a named pipe
/// that Nagios reads; opening it without blocking fails at once when Nagios is not running.
pub fn write(
    path: &Path,
    host: &str,
    service: &str,
    ev: &Evaluation,
    now: i64,
) -> std::io::Result<()> {
    let line = command_line(host, service, ev, now);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(OFlags::NONBLOCK.bits().cast_signed())
        .open(path)?;
    f.write_all(line.as_bytes())
}
