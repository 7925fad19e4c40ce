//! One DNS query to one server, as `dig +norec @server name type` sends it: UDP with EDNS(0),
//! and again over TCP when the UDP answer comes back truncated (RFC 7766 section 5). Messages
//! are built and read with hickory-proto; the exchange itself is a datagram, or a stream of
//! two-byte-length-prefixed messages (RFC 1035 section 4.2.2), on tokio, so that the
//! scheduler's timeout cancels a lookup at any point.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::plan::{Answer, Record};
use crate::model::{ErrorKind, PollError};

/// The EDNS(0) UDP payload size advertised: 1232 bytes, the size the DNS Flag Day 2020
/// recommends so that answers are not fragmented (<https://www.dnsflagday.net/2020/>).
const EDNS_PAYLOAD: u16 = 1232;

/// A query unanswered this long over UDP is sent again (a lost datagram), until the poll's
/// timeout ends the lookup.
const RETRANSMIT: Duration = Duration::from_secs(1);

/// What to ask and whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// `host:port` of the server (a name is resolved with the system's resolver at each
    /// lookup).
    pub server: String,
    /// Fully qualified.
    pub name: Name,
    pub rtype: RecordType,
}

/// The mnemonic of a response code, as IANA's DNS RCODEs registry names it
/// (<https://www.iana.org/assignments/dns-parameters/dns-parameters.xhtml#dns-parameters-6>).
pub fn rcode_name(code: u16) -> String {
    let name = match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        23 => "BADCOOKIE",
        n => return format!("RCODE{n}"),
    };
    name.to_owned()
}

impl Question {
    fn what(&self) -> String {
        format!(
            "{} {} at {}",
            self.name.to_ascii().trim_end_matches('.'),
            self.rtype,
            self.server
        )
    }

    fn fail(&self, kind: ErrorKind, why: impl std::fmt::Display) -> PollError {
        PollError::new(kind, format!("{}: {why}", self.what()))
    }

    /// The query: recursion not desired (the server is to answer from its own zones), EDNS(0)
    /// with a 1232-byte payload.
    pub fn message(&self) -> Result<Message, PollError> {
        let mut m = Message::query();
        m.metadata.recursion_desired = false;
        m.add_query(Query::query(self.name.clone(), self.rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(edns);
        Ok(m)
    }

    /// Whether `r` answers `q`: a response with its id and its question.
    pub fn answers(&self, q: &Message, r: &Message) -> bool {
        r.metadata.message_type == MessageType::Response
            && r.metadata.id == q.metadata.id
            // Names compare without regard to case (RFC 4343).
            && r.queries
                .first()
                .is_some_and(|rq| rq.query_type() == self.rtype && rq.name() == &self.name)
    }

    /// Sends the query and reads the answer.
    pub async fn lookup(&self) -> Result<Answer, PollError> {
        let start = Instant::now();
        let addr = self.resolve().await?;
        let query = self.message()?;
        let wire = query
            .to_vec()
            .map_err(|e| self.fail(ErrorKind::Protocol, format!("cannot encode the query: {e}")))?;
        let mut reply = self.over_udp(addr, &query, &wire).await?;
        let truncated = reply.metadata.truncation;
        if truncated {
            reply = self.over_tcp(addr, &query, &wire).await?;
        }
        let seconds = start.elapsed().as_secs_f64();
        self.judge(reply, truncated, seconds)
    }

    async fn resolve(&self) -> Result<SocketAddr, PollError> {
        tokio::net::lookup_host(&self.server)
            .await
            .map_err(|e| {
                self.fail(
                    ErrorKind::Connect,
                    format!("cannot resolve the server: {e}"),
                )
            })?
            .next()
            .ok_or_else(|| self.fail(ErrorKind::Connect, "the server's name has no address"))
    }

    async fn over_udp(
        &self,
        addr: SocketAddr,
        query: &Message,
        wire: &[u8],
    ) -> Result<Message, PollError> {
        let local: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("an address")
        } else {
            "[::]:0".parse().expect("an address")
        };
        // Connection refused: the ICMP port unreachable a connected socket reports when
        // nothing listens on the port.
        let io = |e: std::io::Error| self.fail(ErrorKind::Connect, format!("UDP: {e}"));
        let sock = UdpSocket::bind(local).await.map_err(io)?;
        // Connected, so that only the server's datagrams arrive and an ICMP port unreachable
        // comes back as "connection refused".
        sock.connect(addr).await.map_err(io)?;
        let mut buf = vec![0u8; 65_535];
        loop {
            sock.send(wire).await.map_err(io)?;
            let deadline = tokio::time::Instant::now() + RETRANSMIT;
            loop {
                let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Err(_) => break, // send again
                    Ok(r) => r.map_err(io)?,
                };
                // Anything that is not the answer to this query (a late answer to an earlier
                // poll, garbage) is ignored, as a resolver ignores it.
                if let Ok(reply) = Message::from_vec(&buf[..n])
                    && self.answers(query, &reply)
                {
                    return Ok(reply);
                }
            }
        }
    }

    async fn over_tcp(
        &self,
        addr: SocketAddr,
        query: &Message,
        wire: &[u8],
    ) -> Result<Message, PollError> {
        let io = |e: std::io::Error| {
            self.fail(
                ErrorKind::Connect,
                format!("TCP (the UDP answer was truncated): {e}"),
            )
        };
        let mut tcp = TcpStream::connect(addr).await.map_err(io)?;
        let len = u16::try_from(wire.len())
            .map_err(|_| self.fail(ErrorKind::Protocol, "query too long"))?;
        let mut framed = Vec::with_capacity(wire.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(wire);
        tcp.write_all(&framed).await.map_err(io)?;
        let len = tcp.read_u16().await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(len)];
        tcp.read_exact(&mut buf).await.map_err(io)?;
        let reply = Message::from_vec(&buf).map_err(|e| {
            self.fail(
                ErrorKind::Protocol,
                format!("unreadable answer over TCP: {e}"),
            )
        })?;
        if !self.answers(query, &reply) {
            return Err(self.fail(
                ErrorKind::Protocol,
                "the answer over TCP is not for the query sent",
            ));
        }
        Ok(reply)
    }

    /// The answer, or the error its response code or emptiness makes of it (pure: the fuzz
    /// tests feed it decoded replies of any content).
    pub fn judge(
        &self,
        reply: Message,
        truncated: bool,
        seconds: f64,
    ) -> Result<Answer, PollError> {
        let code = reply.metadata.response_code;
        let number = u16::from(code);
        let rcode = rcode_name(number);
        match code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => {
                return Err(self.fail(
                    ErrorKind::Protocol,
                    format!("{rcode}: the name does not exist"),
                ));
            }
            // The server will not answer us: not authoritative for the zone, or an ACL.
            ResponseCode::Refused | ResponseCode::NotAuth => {
                return Err(self.fail(
                    ErrorKind::Auth,
                    format!("{rcode}: the server refuses to answer for this zone"),
                ));
            }
            _ => {
                return Err(self.fail(ErrorKind::Protocol, format!("{rcode}: {code}")));
            }
        }
        let records: Vec<Record> = reply
            .answers
            .iter()
            .filter(|r| {
                matches!(r.record_type(), RecordType::CNAME) || r.record_type() == self.rtype
            })
            .map(|r| Record {
                rtype: r.record_type().to_string(),
                ttl: r.ttl,
                value: r.data.to_string().trim_end_matches('.').to_owned(),
            })
            .collect();
        if records.is_empty() {
            return Err(self.fail(
                ErrorKind::Protocol,
                format!(
                    "{rcode} without records: the name exists but has no {} record",
                    self.rtype
                ),
            ));
        }
        Ok(Answer {
            rcode: (rcode, number),
            authoritative: reply.metadata.authoritative,
            truncated,
            records,
            seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_code_names() {
        assert_eq!(rcode_name(0), "NOERROR");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(12), "RCODE12");
    }

    /// A query as the server gets it: recursion not desired, EDNS with 1232 bytes.
    #[test]
    fn the_query_on_the_wire() {
        let q = Question {
            server: "127.0.0.1:53".into(),
            name: Name::from_ascii("storage.example.com.").unwrap(),
            rtype: RecordType::A,
        };
        let m = q.message().unwrap();
        let back = Message::from_vec(&m.to_vec().unwrap()).unwrap();
        assert!(!back.metadata.recursion_desired);
        assert_eq!(back.edns.as_ref().map(|e| e.max_payload()), Some(1232));
        assert_eq!(back.queries[0].name().to_ascii(), "storage.example.com.");
        assert_eq!(back.queries[0].query_type(), RecordType::A);
    }
}
