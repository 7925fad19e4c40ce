//! A stapled OCSP response (RFC 6960 section 4.2.1), read for the leaf certificate's status:
//! `good`, `revoked` (with the time and the reason) or `unknown`, and the response's
//! `thisUpdate` / `nextUpdate`. Pure: bytes in, facts out.
//!
//! The response's signature is not verified: headroom reports what the server staples (a
//! client that relies on the staple verifies it; a forged staple would need the server
//! itself). The `SingleResponse` used is the one whose `CertID.serialNumber` is the leaf's;
//! the issuer name and key hashes of `CertID` are not compared (one server staples for its
//! own certificate, and a serial collision across issuers in one staple is not a case).
//!
//! DER is read with a small tag-length-value reader: the response uses only low tag
//! numbers and definite lengths (X.690 section 10.1 requires the definite form in DER).

use time::{Date, Month, PrimitiveDateTime, Time};

/// The certificate's status in the response (RFC 6960 `CertStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked {
        /// `revocationTime`, Unix seconds.
        at: i64,
        /// `revocationReason` (RFC 5280 section 5.3.1 `CRLReason`), when given.
        reason: Option<&'static str>,
    },
    Unknown,
}

impl CertStatus {
    /// The status as the `status` label spells it.
    pub fn name(&self) -> &'static str {
        match self {
            CertStatus::Good => "good",
            CertStatus::Revoked { .. } => "revoked",
            CertStatus::Unknown => "unknown",
        }
    }
}

/// What a stapled response says about the leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: CertStatus,
    /// `producedAt`, Unix seconds.
    pub produced_at: i64,
    /// `thisUpdate`, Unix seconds.
    pub this_update: i64,
    /// `nextUpdate`, Unix seconds; absent means newer information is always available.
    pub next_update: Option<i64>,
}

/// id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1 (RFC 6960 section 4.2.1), as DER content.
const ID_PKIX_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// One DER element: its tag byte and content, and what follows it.
fn tlv(buf: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = buf.split_first().ok_or("truncated: an element expected")?;
    if tag & 0x1f == 0x1f {
        return Err(format!(
            "unexpected high tag number form (tag byte {tag:#04x})"
        ));
    }
    let (&first, rest) = rest.split_first().ok_or("truncated: no length")?;
    let (len, rest) = match first {
        n if n < 0x80 => (usize::from(n), rest),
        0x80 => return Err("indefinite length, which DER forbids".into()),
        n => {
            let k = usize::from(n & 0x7f);
            if k > 4 || rest.len() < k {
                return Err("bad length".into());
            }
            let len = rest[..k]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[k..])
        }
    };
    if rest.len() < len {
        return Err(format!(
            "truncated: {len} bytes announced, {} left",
            rest.len()
        ));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The next element, which must carry `tag`.
fn expect<'a>(buf: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (t, content, rest) = tlv(buf)?;
    if t != tag {
        return Err(format!("{what}: tag {t:#04x}, expected {tag:#04x}"));
    }
    Ok((content, rest))
}

/// GeneralizedTime content, `YYYYMMDDHHMMSS[.f...]Z` (RFC 6960 section 4.2.2.1 and RFC 5280
/// section 4.1.2.5.2 require UTC, `Z`), as Unix seconds.
fn generalized_time(content: &[u8]) -> Result<i64, String> {
    let s = std::str::from_utf8(content).map_err(|_| "GeneralizedTime is not ASCII")?;
    let bad = || format!("GeneralizedTime {s:?} is not YYYYMMDDHHMMSSZ");
    let body = s.strip_suffix('Z').ok_or_else(bad)?;
    let body = body.split_once('.').map(|(b, _)| b).unwrap_or(body);
    if body.len() != 14 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| body[r].parse::<u16>().map_err(|_| bad());
    let month = Month::try_from(n(4..6)? as u8).map_err(|_| bad())?;
    let date =
        Date::from_calendar_date(i32::from(n(0..4)?), month, n(6..8)? as u8).map_err(|_| bad())?;
    let time =
        Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8).map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp())
}

/// RFC 5280 section 5.3.1 `CRLReason` names (7 is unused).
fn crl_reason(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => return None,
    })
}

/// An INTEGER's content without its leading zero bytes, for comparing serial numbers.
fn unsigned(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// Reads a DER `OCSPResponse` for the certificate with serial number `serial` (the
/// INTEGER's big-endian content).
pub fn parse(der: &[u8], serial: &[u8]) -> Result<Response, String> {
    let (resp, _) = expect(der, 0x30, "OCSPResponse")?;
    let (status, rest) = expect(resp, 0x0a, "responseStatus")?;
    match status {
        [0] => {}
        [n] => {
            let name = match n {
                1 => "malformedRequest",
                2 => "internalError",
                3 => "tryLater",
                5 => "sigRequired",
                6 => "unauthorized",
                _ => "unassigned",
            };
            return Err(format!("response status {name} ({n})"));
        }
        _ => return Err("bad responseStatus".into()),
    }
    let (bytes, _) = expect(rest, 0xa0, "responseBytes")?;
    let (bytes, _) = expect(bytes, 0x30, "ResponseBytes")?;
    let (oid, rest) = expect(bytes, 0x06, "responseType")?;
    if oid != ID_PKIX_OCSP_BASIC {
        return Err("responseType is not id-pkix-ocsp-basic".into());
    }
    let (octets, _) = expect(rest, 0x04, "response")?;
    let (basic, _) = expect(octets, 0x30, "BasicOCSPResponse")?;
    let (tbs, _) = expect(basic, 0x30, "ResponseData")?;
    // version [0] EXPLICIT DEFAULT v1, then responderID: byName [1] or byKey [2].
    let (mut tag, _, mut rest) = tlv(tbs)?;
    if tag == 0xa0 {
        (tag, _, rest) = tlv(rest)?;
    }
    if tag != 0xa1 && tag != 0xa2 {
        return Err(format!("responderID: tag {tag:#04x}"));
    }
    let (produced, rest) = expect(rest, 0x18, "producedAt")?;
    let produced_at = generalized_time(produced)?;
    let (mut responses, _) = expect(rest, 0x30, "responses")?;
    let mut count = 0;
    while !responses.is_empty() {
        let (single, next) = expect(responses, 0x30, "SingleResponse")?;
        responses = next;
        count += 1;
        let (cert_id, rest) = expect(single, 0x30, "certID")?;
        let (_, id) = expect(cert_id, 0x30, "hashAlgorithm")?;
        let (_, id) = expect(id, 0x04, "issuerNameHash")?;
        let (_, id) = expect(id, 0x04, "issuerKeyHash")?;
        let (sn, _) = expect(id, 0x02, "serialNumber")?;
        if unsigned(sn) != unsigned(serial) {
            continue;
        }
        let (tag, content, rest) = tlv(rest)?;
        let status = match tag {
            // good [0] IMPLICIT NULL, unknown [2] IMPLICIT UnknownInfo (NULL)
            0x80 => CertStatus::Good,
            0x82 => CertStatus::Unknown,
            // revoked [1] IMPLICIT RevokedInfo: revocationTime, [0] EXPLICIT CRLReason
            0xa1 => {
                let (t, more) = expect(content, 0x18, "revocationTime")?;
                let reason = if more.is_empty() {
                    None
                } else {
                    let (r, _) = expect(more, 0xa0, "revocationReason")?;
                    let (code, _) = expect(r, 0x0a, "CRLReason")?;
                    code.first().copied().and_then(crl_reason)
                };
                CertStatus::Revoked {
                    at: generalized_time(t)?,
                    reason,
                }
            }
            t => return Err(format!("certStatus: tag {t:#04x}")),
        };
        let (this, rest) = expect(rest, 0x18, "thisUpdate")?;
        let next_update = match tlv(rest) {
            Ok((0xa0, content, _)) => {
                Some(generalized_time(expect(content, 0x18, "nextUpdate")?.0)?)
            }
            _ => None,
        };
        return Ok(Response {
            status,
            produced_at,
            this_update: generalized_time(this)?,
            next_update,
        });
    }
    Err(format!(
        "none of its {count} responses is for the leaf's serial number"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn times_and_reasons() {
        assert_eq!(generalized_time(b"20240229120000Z"), Ok(1_709_208_000));
        assert_eq!(generalized_time(b"20240229120000.5Z"), Ok(1_709_208_000));
        assert!(generalized_time(b"20240229120000").is_err());
        assert!(generalized_time(b"20230229120000Z").is_err());
        assert_eq!(crl_reason(1), Some("keyCompromise"));
        assert_eq!(crl_reason(7), None);
        assert_eq!(unsigned(&[0, 0x80, 1]), &[0x80, 1]);
    }

    // Made with `openssl ocsp` (OpenSSL 3, see openssl-ocsp(1)): a P-256 CA "OCSP Test CA", a
    // leaf with serial 0x1001, a request `-issuer ca.pem -cert leaf.pem -no_nonce -reqout`,
    // answered with `-index INDEX -rsigner ca.pem -rkey ca.key -CA ca.pem -ndays 7
    // -resp_no_certs` from an index listing the serial as valid (V), revoked on 2024-01-01
    // with keyCompromise (R), and not listing it (unknown). Produced 2026-12-05 00:50:07 UTC.
    const GOOD: &str = "
        308201080a0100a08201013081fe06092b06010505073001010481f03081
        ed308193a11930173115301306035504030c0c4f43535020546573742043
        41180f32303236313230353030353030375a30653063303b300906052b0e
        03021a05000414aa7e92cd07a9c58fa500330dab7dba0aae40835f0414b4
        1ea64e0e0d057839079d6b276481985f1ff096020210018000180f323032
        36313230353030353030375aa011180f3230323631323132303035303037
        5a300a06082a8648ce3d04030203490030460221009c7e3b84334bebafd4
        3c4d93a86fd8a0b204fc03640feb31916885bb945de036022100c8699fc2
        7525a999488c2eaae966b59255089a44dcf8addfaf7f2a18ed7f4da7";
    const REVOKED: &str = "
        308201210a0100a082011a3082011606092b060105050730010104820107
        308201033081a9a11930173115301306035504030c0c4f43535020546573
        74204341180f32303236313230353030353030375a307b3079303b300906
        052b0e03021a05000414aa7e92cd07a9c58fa500330dab7dba0aae40835f
        0414b41ea64e0e0d057839079d6b276481985f1ff09602021001a116180f
        32303234303130313030303030305aa0030a0101180f3230323631323035
        3030353030375aa011180f32303236313231323030353030375a300a0608
        2a8648ce3d04030203490030460221008e5d1d979fe5da3b610c6bf39030
        9ac7314f52f6857c477762c043b8eeb74067022100c3af3685220f9b3ead
        8238045117b8c466901a40769e936fc134f0e18aea1b53";
    const UNKNOWN: &str = "
        308201070a0100a08201003081fd06092b06010505073001010481ef3081
        ec308193a11930173115301306035504030c0c4f43535020546573742043
        41180f32303236313230353030353030375a30653063303b300906052b0e
        03021a05000414aa7e92cd07a9c58fa500330dab7dba0aae40835f0414b4
        1ea64e0e0d057839079d6b276481985f1ff096020210018200180f323032
        36313230353030353030375aa011180f3230323631323132303035303037
        5a300a06082a8648ce3d0403020348003045022100fb12f1a71eb7b88b1b
        124de2a6c2474f8c42d8193a545f41328dd04ab524746b02200b9d3d4ea1
        0ac542f906ce79039a4e3b48517d24edf96d0a58dc3b7f0acf40db";

    #[test]
    fn openssl_responses() {
        let produced = 1_796_431_807;
        let next = Some(1_797_036_607);
        let serial = [0x10, 0x01];
        let good = parse(&unhex(GOOD), &serial).unwrap();
        assert_eq!(
            good,
            Response {
                status: CertStatus::Good,
                produced_at: produced,
                this_update: produced,
                next_update: next,
            }
        );
        let revoked = parse(&unhex(REVOKED), &serial).unwrap();
        assert_eq!(
            revoked.status,
            CertStatus::Revoked {
                at: 1_704_067_200,
                reason: Some("keyCompromise"),
            }
        );
        assert_eq!(revoked.next_update, next);
        let unknown = parse(&unhex(UNKNOWN), &serial).unwrap();
        assert_eq!(unknown.status, CertStatus::Unknown);
        assert_eq!(unknown.status.name(), "unknown");
        // A leading zero byte in a serial is the same number; another serial is not found.
        assert!(parse(&unhex(GOOD), &[0, 0x10, 0x01]).is_ok());
        assert_eq!(
            parse(&unhex(GOOD), &[0x10, 0x02]),
            Err("none of its 1 responses is for the leaf's serial number".into())
        );
        // Cut anywhere: an error, never a panic.
        let der = unhex(REVOKED);
        for n in 0..der.len() {
            assert!(parse(&der[..n], &serial).is_err(), "{n}");
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x05, 0x0a],
            &[0x1f, 0x01],
        ] {
            assert!(parse(bad, &[1]).is_err(), "{bad:?}");
        }
        // responseStatus tryLater (3), no responseBytes (RFC 6960 section 4.2.1).
        assert_eq!(
            parse(&[0x30, 0x03, 0x0a, 0x01, 0x03], &[1]),
            Err("response status tryLater (3)".into())
        );
    }
}
