//! Hostile peers that speak part of a protocol: a MySQL server that completes the handshake
//! and closes in the middle of a result set, one that sends a malformed handshake, one that
//! closes before any handshake; a DNS server over UDP that never answers, answers garbage, or
//! answers with another query's ID. Each poll ends within its timeout with the right error
//! kind, the checks say why, nothing panics. (No real server misbehaves on demand: these are
//! written from the protocols' documentation, cited where they are built.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::{Daemon, free_port, series_value, wait_for};

// ---------------------------------------------------------------------------------------
// MySQL. The client/server protocol as MySQL's source documentation describes it
// (<https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html>):
// - packets: a 3-byte little-endian payload length, a sequence id, the payload
//   (page_protocol_basic_packets.html);
// - integers and strings of length-encoded form (page_protocol_basic_dt_integers.html,
//   page_protocol_basic_dt_strings.html);
// - the server's Protocol::HandshakeV10 and the OK packet that accepts the client's
//   HandshakeResponse41 (page_protocol_connection_phase_packets_protocol_handshake_v10.html,
//   page_protocol_basic_ok_packet.html);
// - the text result set of COM_QUERY: column count, ColumnDefinition41 each, EOF, rows of
//   length-encoded strings, EOF (page_protocol_com_query_response_text_resultset.html,
//   page_protocol_com_query_response_text_resultset_column_definition.html,
//   page_protocol_basic_eof_packet.html), without CLIENT_DEPRECATE_EOF, which this server
//   does not offer.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mysql {
    /// Handshake and login as a server does; answers the driver's own settings query; then,
    /// to the poll's first statement, the column definitions and one row, and closes.
    MidResult,
    /// A well-framed first packet that is no HandshakeV10: protocol version 10, then bytes
    /// with no NUL to end the server version, cut short.
    BadHandshake,
    /// Accepts and closes before sending anything.
    CloseFirst,
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut p = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    p.extend_from_slice(payload);
    p
}

/// A length-encoded string of fewer than 251 bytes: its length in one byte, then the bytes.
fn lenenc(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 |
/// CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS |
/// CLIENT_PLUGIN_AUTH (page_protocol_basic_capabilities... "Capabilities Flags").
const CAPS: u32 = 0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000;

fn handshake_v10() -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(b"8.0.35-hostile\0");
    p.extend_from_slice(&7u32.to_le_bytes()); // connection id
    p.extend_from_slice(b"abcdefgh"); // auth-plugin-data-part-1
    p.push(0); // filler
    p.extend_from_slice(&(CAPS as u16).to_le_bytes());
    p.push(0x21); // utf8mb3_general_ci
    p.extend_from_slice(&0x0002u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&((CAPS >> 16) as u16).to_le_bytes());
    p.push(21); // length of the auth plugin data
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0"); // auth-plugin-data-part-2
    p.extend_from_slice(b"mysql_native_password\0");
    p
}

fn ok_packet() -> Vec<u8> {
    vec![0x00, 0, 0, 0x02, 0x00, 0, 0]
}

fn eof_packet() -> Vec<u8> {
    vec![0xfe, 0, 0, 0x02, 0x00]
}

fn column(name: &str) -> Vec<u8> {
    let mut p = Vec::new();
    for s in ["def", "", "", "", name, name] {
        p.extend(lenenc(s));
    }
    p.push(0x0c); // length of the fixed fields
    p.extend_from_slice(&0x21u16.to_le_bytes()); // character set
    p.extend_from_slice(&1024u32.to_le_bytes()); // column length
    p.push(0xfd); // MYSQL_TYPE_VAR_STRING
    p.extend_from_slice(&0u16.to_le_bytes()); // flags
    p.push(0); // decimals
    p.extend_from_slice(&[0, 0]);
    p
}

/// Writes a text result set; `cut` stops after the first row, before the closing EOF.
fn result_set(s: &mut TcpStream, columns: &[&str], rows: &[&[&str]], cut: bool) {
    let mut seq = 1u8;
    let mut out = packet(seq, &[columns.len() as u8]);
    for c in columns {
        seq += 1;
        out.extend(packet(seq, &column(c)));
    }
    seq += 1;
    out.extend(packet(seq, &eof_packet()));
    for r in rows {
        seq += 1;
        let row: Vec<u8> = r.iter().flat_map(|v| lenenc(v)).collect();
        out.extend(packet(seq, &row));
        if cut {
            break;
        }
    }
    if !cut {
        seq += 1;
        out.extend(packet(seq, &eof_packet()));
    }
    let _ = s.write_all(&out);
}

/// Reads one packet from the client.
fn read_packet(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).ok()?;
    let n = head[0] as usize | (head[1] as usize) << 8 | (head[2] as usize) << 16;
    let mut p = vec![0u8; n];
    s.read_exact(&mut p).ok()?;
    Some(p)
}

fn mysql_peer(kind: Mysql, mut s: TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    match kind {
        Mysql::CloseFirst => {}
        Mysql::BadHandshake => {
            let _ = s.write_all(&packet(0, b"\x0a\xff\xfe\xfd\x80\x81\x82\x83\x84\x85"));
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf);
        }
        Mysql::MidResult => {
            let _ = s.write_all(&packet(0, &handshake_v10()));
            // HandshakeResponse41 (sequence 1): any user and password are let in.
            if read_packet(&mut s).is_none() {
                return;
            }
            let _ = s.write_all(&packet(2, &ok_packet()));
            while let Some(cmd) = read_packet(&mut s) {
                // COM_QUERY (0x03) and its text; COM_QUIT (0x01) ends the session.
                if cmd.first() != Some(&0x03) {
                    return;
                }
                let sql = String::from_utf8_lossy(&cmd[1..]).to_string();
                if sql.contains("@@") {
                    // The driver's settings query after login: max_allowed_packet and
                    // wait_timeout, as a server answers it.
                    let names: Vec<&str> = sql
                        .trim_start_matches("SELECT ")
                        .split(',')
                        .map(str::trim)
                        .collect();
                    let values: Vec<&str> = names
                        .iter()
                        .map(|n| {
                            if n.contains("wait") {
                                "28800"
                            } else {
                                "67108864"
                            }
                        })
                        .collect();
                    result_set(&mut s, &names, &[&values], false);
                } else {
                    result_set(
                        &mut s,
                        &["Variable_name", "Value"],
                        &[&["Aborted_clients", "0"], &["Aborted_connects", "0"]],
                        true,
                    );
                    return;
                }
            }
        }
    }
}

fn serve_mysql(kind: Mysql) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            std::thread::spawn(move || mysql_peer(kind, s));
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------
// DNS over UDP (RFC 1035 section 4.1.1: the 12-byte header, whose first two bytes are the
// ID a reply must copy from its query).
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dns {
    /// Reads queries and never answers.
    Silent,
    /// Answers each query with bytes that are no DNS message.
    Garbage,
    /// Answers each query with a well-formed answer (QR set, NOERROR, one A record) under
    /// another ID.
    WrongId,
}

fn serve_dns(kind: Dns) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            match kind {
                Dns::Silent => {}
                Dns::Garbage => {
                    let junk: Vec<u8> = (0..64u32)
                        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                        .collect();
                    let _ = sock.send_to(&junk, from);
                }
                Dns::WrongId => {
                    // The query itself, made a response: ID changed, QR and AA set, one
                    // answer pointing at the question's name (compression pointer 0xc00c).
                    let mut r = buf[..n].to_vec();
                    r[0] ^= 0x5a;
                    r[2] |= 0x84;
                    r[7] = 1; // ANCOUNT = 1
                    r[10] = 0;
                    r[11] = 0; // ARCOUNT = 0: the query's OPT record dropped below
                    // The question ends 4 bytes after its name's terminating zero.
                    let qend = 12 + r[12..].iter().position(|b| *b == 0).unwrap() + 5;
                    r.truncate(qend);
                    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
                    let _ = sock.send_to(&r, from);
                }
            }
        }
    });
    addr
}

/// (status, output) of check `name` on `host` from /api/checks, once evaluated.
fn check(d: &Daemon, name: &str, host: &str) -> Option<(String, String)> {
    let (_, body) = d.get("/api/checks")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["checks"].as_array()?.iter().find_map(|c| {
        (c["check"] == name && c["host"] == host && c["has_been_checked"] == true).then(|| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["output"].as_str().unwrap_or_default().to_owned(),
            )
        })
    })
}

const KINDS: [&str; 4] = ["timeout", "connect", "auth", "protocol"];

fn kinds_of(m: &str, t: &str) -> Vec<&'static str> {
    KINDS
        .into_iter()
        .filter(|k| {
            series_value(
                m,
                "headroom_poll_errors_total",
                &[&format!("target=\"{t}\""), &format!("kind=\"{k}\"")],
            )
            .is_some_and(|v| v > 0.0)
        })
        .collect()
}

#[test]
fn mysql_and_dns_peers_that_speak_part_of_the_protocol() {
    let mysql = [
        (Mysql::MidResult, "protocol"),
        (Mysql::BadHandshake, "protocol"),
        (Mysql::CloseFirst, "connect"),
    ];
    // A peer that answers nothing usable is waited for until the timeout: a resolver drops
    // a datagram that is not the answer to its query (RFC 5452 section 9.1), so garbage and
    // an answer to another ID are ignored, as silence is.
    let dns = [
        (Dns::Silent, "timeout"),
        (Dns::Garbage, "timeout"),
        (Dns::WrongId, "timeout"),
    ];
    let name = |x: &dyn std::fmt::Debug| format!("{x:?}").to_lowercase();
    let mut config = String::from("defaults: {interval: 1s, timeout: 2s}\nmysql:\n");
    for (m, _) in &mysql {
        config.push_str(&format!(
            "  - {{name: mysql-{}, address: '{}', user: monitor, password_env: HR_PW, tps_counter: questions}}\n",
            name(m),
            serve_mysql(*m)
        ));
    }
    config.push_str("dns:\n");
    for (k, _) in &dns {
        config.push_str(&format!(
            "  - {{name: dns-{}, server: '{}', record: storage.example.com}}\n",
            name(k),
            serve_dns(*k)
        ));
    }
    let started = Instant::now();
    let d = Daemon::start(free_port(), &config, &[("HR_PW", "pw")]);
    let targets: Vec<(String, &str)> = mysql
        .iter()
        .map(|(m, k)| (format!("mysql-{}", name(m)), *k))
        .chain(dns.iter().map(|(x, k)| (format!("dns-{}", name(x)), *k)))
        .collect();
    let m = wait_for(
        "two failed polls of every target",
        Duration::from_secs(30),
        || {
            let m = d.metrics();
            targets
                .iter()
                .all(|(t, _)| {
                    let failed: f64 = KINDS
                        .iter()
                        .filter_map(|k| {
                            series_value(
                                &m,
                                "headroom_poll_errors_total",
                                &[&format!("target=\"{t}\""), &format!("kind=\"{k}\"")],
                            )
                        })
                        .sum();
                    failed >= 2.0
                })
                .then_some(m)
        },
    );
    for (t, kind) in &targets {
        assert_eq!(kinds_of(&m, t), vec![*kind], "{t}\n{}", d.log());
        // Every poll ended within its 2 s timeout (the 5 s bucket: slack for a loaded
        // machine's scheduling; the peers would hold a poll 30 s).
        let count = series_value(
            &m,
            "headroom_poll_duration_seconds_count",
            &[&format!("target=\"{t}\"")],
        )
        .unwrap();
        let within = series_value(
            &m,
            "headroom_poll_duration_seconds_bucket",
            &[&format!("target=\"{t}\""), "le=\"5\""],
        )
        .unwrap();
        assert_eq!(within, count, "{t}: a poll outlived its timeout");
    }
    // The checks of the failed targets are not OK and say why: a MySQL check names the
    // error of the poll.
    for (m, _) in &mysql {
        let host = format!("mysql-{}", name(m));
        let (status, output) = wait_for(
            "the MySQL checks of the hostile peers",
            Duration::from_secs(20),
            || check(&d, "MYSQL_CONNECTIONS", &host),
        );
        assert!(
            status == "UNKNOWN" || status == "CRITICAL",
            "{host}: {status} {output}"
        );
        assert!(!output.is_empty(), "{host}: no reason");
        println!("{host}: {status}: {output}");
    }
    let log = d.log();
    for needle in ["in the middle of a reply", "mysql-badhandshake"] {
        assert!(log.contains(needle), "{needle} not in the log:\n{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
    assert!(d.get("/status").is_some_and(|(s, _)| s == 200));
    assert!(started.elapsed() < Duration::from_secs(60));
}
