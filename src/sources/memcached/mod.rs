//! The memcached source: `stats`, `stats settings` (once per server process) and (with
//! `slabs: true`) `stats items` and `stats slabs` over the text protocol, all sent in one
//! write.
//!
//! It speaks the protocol over tokio directly rather than through the `memcache` crate: that
//! crate is synchronous (each poll would hold a blocking-pool thread, and a timeout could not
//! cancel it), and two commands with line-oriented replies are simpler to send than to wrap.
//! Each poll opens a fresh connection, so a restarted server is seen at once and nothing
//! stale is reused; the round-trip time reported excludes the TCP connect.

mod parse;
mod slabs;

pub use parse::{ParseError, Previous, Stats, families};
pub use slabs::Slabs;

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{ErrorKind, PollError, Poller};
use crate::model::{Polled, SourceKind};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use std::convert::Infallible;

/// A reply larger than this is not a `stats` reply (a real one is about 4 KiB).
const MAX_REPLY: usize = 256 * 1024;

/// One entry of `memcached:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// `host:port` of the server, e.g. `127.0.0.1:11211`.
    pub address: String,
    /// Overrides `defaults.interval`.
    pub interval: Option<Duration>,
    /// Overrides `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// Where the target is, e.g. `us-west-2` or `dc1`: the `region` label of
    /// `headroom_target_info`, which dashboards select targets by. Default: none.
    pub region: Option<String>,
    /// Read `stats items` and `stats slabs` too and export the per-slab-class
    /// `memcached_slab_*{slab}` series memcached_exporter exports. Default: false (they are
    /// about 39 series per slab class in use: see docs/metrics.md for what they cost).
    pub slabs: Option<bool>,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: self.region.as_deref(),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, _cx: &Context) -> Option<Settings> {
        self.settings(v, path)
    }
}

impl RawTarget {
    fn settings(&self, v: &mut Validator<'_>, path: &str) -> Option<Settings> {
        v.address(&format!("{path}.address"), &self.address)
            .then(|| Settings {
                address: self.address.clone(),
                slabs: self.slabs.unwrap_or(false),
            })
    }
}

/// A validated memcached target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub address: String,
    /// Read `stats items` and `stats slabs` as well.
    pub slabs: bool,
}

#[derive(Debug)]
pub struct MemcachedPoller {
    address: String,
    slabs: bool,
    prev: Mutex<Option<Previous>>,
    settings: Mutex<Option<Settled>>,
}

/// The latest `stats settings` reply and the server it came from. memcached fixes its
/// settings at start (`-c` maxconns among them: `doc/protocol.txt` has no command that
/// changes it), so the reply is read again only when the server is another one (another pid
/// or start time: a restart) or the copy is older than [`SETTINGS_MAX_AGE`]. That spares
/// every other poll a second reply of some 70 lines, on both sides.
#[derive(Debug, Clone)]
struct Settled {
    /// `None` when the server does not answer `stats settings` (a proxy such as mcrouter).
    reply: Option<Arc<Stats>>,
    server: Server,
    read_at: Instant,
}

/// Which server process answered: its pid and start time (`time - uptime`, in seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Server {
    pid: Option<f64>,
    started: Option<f64>,
}

impl Server {
    fn of(stats: &Stats) -> Server {
        Server {
            pid: stats.num("pid"),
            started: stats
                .num("time")
                .zip(stats.num("uptime"))
                .map(|(t, u)| t - u),
        }
    }

    /// The same process: same pid and a start time within a second (`time` and `uptime` are
    /// whole seconds read at slightly different moments).
    fn same(&self, other: &Server) -> bool {
        self.pid == other.pid
            && match (self.started, other.started) {
                (Some(a), Some(b)) => (a - b).abs() <= 1.0,
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

/// How long a `stats settings` reply is reused at most.
const SETTINGS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

impl MemcachedPoller {
    pub fn new(s: &Settings) -> Self {
        MemcachedPoller {
            address: s.address.clone(),
            slabs: s.slabs,
            prev: Mutex::new(None),
            settings: Mutex::new(None),
        }
    }

    /// Sends `stats`, `stats settings` when the copy it keeps is missing or old (and `stats
    /// items`, `stats slabs`) in one write and reads the replies in order. Returns them and
    /// the time until the first one was complete.
    async fn fetch(&self) -> Result<Fetched, PollError> {
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| PollError::new(ErrorKind::Connect, format!("{}: {e}", self.address)))?;
        stream.set_nodelay(true).ok();
        let mut rd = Replies::new(stream);
        let start = Instant::now();
        let cached = self
            .settings
            .lock()
            .clone()
            .filter(|c| c.read_at.elapsed() < SETTINGS_MAX_AGE);
        let request: &[u8] = match (cached.is_none(), self.slabs) {
            (true, true) => b"stats\r\nstats settings\r\nstats items\r\nstats slabs\r\n",
            (true, false) => b"stats\r\nstats settings\r\n",
            (false, true) => b"stats\r\nstats items\r\nstats slabs\r\n",
            (false, false) => b"stats\r\n",
        };
        rd.stream
            .write_all(request)
            .await
            .map_err(|e| io_error(&self.address, e))?;
        let stats = rd.next(&self.address).await?;
        let rtt = start.elapsed().as_secs_f64();
        stats.validate().map_err(|e| protocol(&self.address, e))?;
        let server = Server::of(&stats);
        let mut settings = match &cached {
            Some(c) => c.reply.clone(),
            None => self.read_settings(&mut rd).await?,
        };
        // So are `stats items` and `stats slabs` (a proxy such as mcrouter answers neither);
        // a malformed value in a reply that came fails the poll, naming the statistic.
        let mut slabs = None;
        if self.slabs
            && let Ok(items) = rd.next(&self.address).await
            && let Ok(per_class) = rd.next(&self.address).await
        {
            slabs = Some(
                Slabs::from_replies(&items, &per_class).map_err(|e| protocol(&self.address, e))?,
            );
        }
        // A restarted server (or another one behind the address): its settings are read
        // again on this connection rather than reused.
        if let Some(c) = &cached
            && !c.server.same(&server)
        {
            rd.stream
                .write_all(b"stats settings\r\n")
                .await
                .map_err(|e| io_error(&self.address, e))?;
            settings = self.read_settings(&mut rd).await?;
        }
        if cached.as_ref().is_none_or(|c| !c.server.same(&server)) {
            *self.settings.lock() = Some(Settled {
                reply: settings.clone(),
                server,
                read_at: Instant::now(),
            });
        }
        Ok(Fetched {
            stats,
            settings,
            slabs,
            rtt,
        })
    }
}

impl MemcachedPoller {
    /// The `stats settings` reply. It is optional: a proxy or an old server may not know the
    /// command. One that answers with a malformed `maxconns` fails the poll as a malformed
    /// `stats` does.
    async fn read_settings(&self, rd: &mut Replies) -> Result<Option<Arc<Stats>>, PollError> {
        let Ok(s) = rd.next(&self.address).await else {
            return Ok(None);
        };
        s.validate_settings()
            .map_err(|e| protocol(&self.address, e))?;
        Ok(Some(Arc::new(s)))
    }
}

/// What one poll read.
struct Fetched {
    stats: Stats,
    settings: Option<Arc<Stats>>,
    slabs: Option<Slabs>,
    rtt: f64,
}

/// Reads the pipelined replies of one connection, one at a time. It reads what the socket
/// has in large chunks into one buffer and looks for each reply's last line there, rather
/// than reading line by line: a `stats` reply is about 90 lines that arrive in one segment.
struct Replies {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Where the next reply starts in `buf`.
    start: usize,
    /// How far from `start` the lines have been looked at (always a line start).
    scanned: usize,
}

impl Replies {
    fn new(stream: TcpStream) -> Self {
        Replies {
            stream,
            buf: Vec::with_capacity(8192),
            start: 0,
            scanned: 0,
        }
    }

    /// The next reply, up to and including its `END` (or error) line.
    async fn next(&mut self, addr: &str) -> Result<Stats, PollError> {
        loop {
            if let Some(len) = self.reply_len(addr)? {
                let reply = &self.buf[self.start..self.start + len];
                self.start += len;
                self.scanned = 0;
                let text = std::str::from_utf8(reply).map_err(|e| {
                    PollError::new(
                        ErrorKind::Protocol,
                        format!("{addr}: the reply is not memcached's text protocol ({e})"),
                    )
                })?;
                return Stats::parse(text).map_err(|e| protocol(addr, e));
            }
            if self.buf.len() - self.start > MAX_REPLY {
                return Err(PollError::new(
                    ErrorKind::Protocol,
                    format!("{addr}: reply longer than {MAX_REPLY} bytes"),
                ));
            }
            // Read no further than one byte past the limit: a peer that sends 100 MB without
            // a line end must not make headroom hold 100 MB.
            let room = (self.start + MAX_REPLY + 1).saturating_sub(self.buf.len());
            self.buf.reserve(room.min(64 * 1024));
            let n = (&mut self.stream)
                .take(room as u64)
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| io_error(addr, e))?;
            if n == 0 {
                let rest = &self.buf[self.start + self.scanned..];
                if std::str::from_utf8(rest).is_err()
                    || !b"STAT ".starts_with(&rest[..rest.len().min(5)])
                {
                    return Err(not_text(addr, rest));
                }
                return Err(PollError::new(
                    ErrorKind::Protocol,
                    format!("{addr}: connection closed in the middle of a reply"),
                ));
            }
        }
    }

    /// The length of the first complete reply from `start`, if its last line has arrived.
    /// A line that is neither a statistic nor an ending fails the reply at once rather than
    /// when the peer stops talking.
    fn reply_len(&mut self, addr: &str) -> Result<Option<usize>, PollError> {
        let pending = &self.buf[self.start..];
        while let Some(nl) = pending[self.scanned..].iter().position(|&b| b == b'\n') {
            let line = &pending[self.scanned..self.scanned + nl];
            self.scanned += nl + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line == b"END"
                || line == b"ERROR"
                || line.starts_with(b"SERVER_ERROR")
                || line.starts_with(b"CLIENT_ERROR")
            {
                return Ok(Some(self.scanned));
            }
            if !line.starts_with(b"STAT ") && !line.is_empty() {
                return Err(not_text(addr, line));
            }
        }
        Ok(None)
    }
}

/// A line that no memcached reply has: text that is not a statistic, or bytes that are not
/// text at all.
fn not_text(addr: &str, line: &[u8]) -> PollError {
    match std::str::from_utf8(line) {
        Ok(text) => protocol(
            addr,
            ParseError::Unexpected(text.chars().take(80).collect()),
        ),
        Err(e) => PollError::new(
            ErrorKind::Protocol,
            format!("{addr}: the reply is not memcached's text protocol ({e})"),
        ),
    }
}

fn protocol(addr: &str, e: ParseError) -> PollError {
    PollError::new(ErrorKind::Protocol, format!("{addr}: {e}"))
}

/// A failed read or write: the connection's fault, except a reply that is not text, which
/// is the peer speaking something else than memcached's protocol.
fn io_error(addr: &str, e: std::io::Error) -> PollError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        return PollError::new(
            ErrorKind::Protocol,
            format!("{addr}: the reply is not memcached's text protocol ({e})"),
        );
    }
    PollError::new(ErrorKind::Connect, format!("{addr}: {e}"))
}

impl Poller for MemcachedPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let f = self.fetch().await?;
        let prev = {
            let mut guard = self.prev.lock();
            std::mem::replace(&mut *guard, Previous::of(&f.stats))
        };
        let mut out = families(&f.stats, f.settings.as_deref(), f.rtt, prev);
        if let Some(s) = &f.slabs {
            out.extend(s.families());
        }
        Ok(out.into())
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("memcached", "memcached_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = MemcachedPoller;

    fn poller(&self, _at: Spawn<'_>) -> MemcachedPoller {
        MemcachedPoller::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_known_by_its_pid_and_start_time() {
        let stats = |pid: u32, time: u64, uptime: u64| {
            Server::of(
                &Stats::parse(&format!(
                    "STAT pid {pid}\r\nSTAT uptime {uptime}\r\nSTAT time {time}\r\nEND\r\n"
                ))
                .unwrap(),
            )
        };
        let a = stats(7, 1_000_000, 100);
        // Ten seconds later, read a little out of step: the same process.
        assert!(a.same(&stats(7, 1_000_010, 111)));
        // Restarted with the same pid (pid 1 in a container), or another pid.
        assert!(!a.same(&stats(7, 1_000_010, 5)));
        assert!(!a.same(&stats(8, 1_000_010, 110)));
        // A proxy that reports neither is one server as long as it reports neither.
        let none = Server::of(&Stats::parse("END\r\n").unwrap());
        assert!(none.same(&none));
        assert!(!none.same(&a));
    }
}
