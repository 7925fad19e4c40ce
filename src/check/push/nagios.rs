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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::output::Perf;
    use crate::check::state::Status;
    use rustix::fs::{CWD, FileType, Mode};
    use std::io::Read;

    fn critical(text: &str) -> Evaluation {
        Evaluation {
            status: Status::Critical,
            text: text.into(),
            perf: vec![Perf {
                label: "memcache_response".into(),
                value: 0.7,
                uom: "s".into(),
                warn: Some("0.1".parse().unwrap()),
                crit: Some("0.5".parse().unwrap()),
                min: None,
                max: None,
            }],
            value: Some(0.7),
        }
    }

    #[test]
    fn command_line_is_a_passive_service_result() {
        let line = command_line(
            "m1",
            "MEMCACHE_RESPONSE",
            &critical("took 0.7s"),
            1_700_000_000,
        );
        assert_eq!(
            line,
            "[1700000000] PROCESS_SERVICE_CHECK_RESULT;m1;MEMCACHE_RESPONSE;2;\
             CRITICAL: took 0.7s | 'memcache_response'=0.7s;0.1;0.5\n"
        );
        // A newline would end the command early. The plugin line makes one in the text a
        // space; any left (here in a perfdata label) goes to Nagios as `\n`.
        let mut ev = critical("one\ntwo");
        ev.perf[0].label = "a\nb".into();
        let line = command_line("m1", "X", &ev, 5);
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        assert!(
            line.ends_with(";2;CRITICAL: one two | 'a\\nb'=0.7s;0.1;0.5\n"),
            "{line:?}"
        );
    }

    #[test]
    fn write_appends_to_the_pipe_and_fails_at_once_without_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("nagios.cmd");
        rustix::fs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        // Nagios is not running: the open would block for ever without O_NONBLOCK.
        let err = write(&fifo, "m1", "X", &critical("t"), 1).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::NXIO.raw_os_error())
        );
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(OFlags::NONBLOCK.bits().cast_signed())
            .open(&fifo)
            .unwrap();
        write(&fifo, "m1", "X", &critical("t"), 1).unwrap();
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, command_line("m1", "X", &critical("t"), 1));
    }
}
