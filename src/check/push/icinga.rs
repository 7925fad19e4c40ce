//! Icinga 2: results POSTed to `/v1/actions/process-check-result`, one after another from a
//! queue so the engine never waits on the network.

use super::IcingaPush;

/// One result on its way to Icinga 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcingaResult {
    pub host: String,
    pub service: String,
    pub exit_status: u8,
    pub output: String,
    pub perfdata: Vec<String>,
}

/// The JSON body of the `process-check-result` request for one result: the service is
/// selected by a filter on its host and service names.
pub fn request_body(r: &IcingaResult) -> serde_json::Value {
    // Icinga's filter language: strings quoted, backslash and quote escaped.
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    serde_json::json!({
        "type": "Service",
        "filter": format!("host.name=={} && service.name=={}", q(&r.host), q(&r.service)),
        "exit_status": r.exit_status,
        "plugin_output": r.output,
        "performance_data": r.perfdata,
        "check_source": "headroom",
    })
}

/// Sends results to Icinga 2 one after another from a queue, so the engine never waits on
/// the network. A full queue drops the result and says so.
#[derive(Debug, Clone)]
pub struct IcingaSender {
    tx: tokio::sync::mpsc::Sender<IcingaResult>,
}

impl IcingaSender {
    pub fn start(cfg: IcingaPush) -> Result<IcingaSender, String> {
        let mut b = reqwest::Client::builder().timeout(cfg.timeout);
        if let Some(f) = &cfg.ca_file {
            let pem = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            for c in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: {e}", f.display()))?
            {
                b = b.add_root_certificate(c);
            }
        }
        let client = b.build().map_err(|e| e.to_string())?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<IcingaResult>(1024);
        tokio::spawn(async move {
            let url = format!("{}/v1/actions/process-check-result", cfg.url);
            while let Some(r) = rx.recv().await {
                let body = request_body(&r);
                let sent = client
                    .post(&url)
                    .basic_auth(&cfg.user, Some(cfg.password.expose()))
                    .header("Accept", "application/json")
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => {
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        tracing::warn!(host = %r.host, service = %r.service, %status, "Icinga 2 refused the result: {}", text.chars().take(300).collect::<String>());
                    }
                    // reqwest's error names the URL, which holds no credentials.
                    Err(e) => {
                        tracing::warn!(host = %r.host, service = %r.service, error = %e, "result not pushed to Icinga 2");
                    }
                }
            }
        });
        Ok(IcingaSender { tx })
    }

    pub fn send(&self, r: IcingaResult) {
        if self.tx.try_send(r).is_err() {
            tracing::warn!("Icinga 2 push queue full; a result was dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_selects_the_service_and_carries_the_result() {
        let body = request_body(&IcingaResult {
            host: "db \"primary\"".into(),
            service: "MYSQL\\LAG".into(),
            exit_status: 1,
            output: "WARNING: lag = 42s".into(),
            perfdata: vec!["'mysql_replica_lag'=42s;30;60".into()],
        });
        assert_eq!(
            body,
            serde_json::json!({
                "type": "Service",
                "filter": r#"host.name=="db \"primary\"" && service.name=="MYSQL\\LAG""#,
                "exit_status": 1,
                "plugin_output": "WARNING: lag = 42s",
                "performance_data": ["'mysql_replica_lag'=42s;30;60"],
                "check_source": "headroom",
            })
        );
    }
}
