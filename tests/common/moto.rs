//! Helpers for the tests that run against moto (scripts/services starts it): boto3 scripts
//! with moto's own client, a reset between tests, and the credentials the daemon signs with.
#![allow(dead_code)]

use std::process::Command;

/// Credentials for the SDK's signer; moto accepts any. IMDS is off so nothing leaves loopback.
pub const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Runs a Python script with the virtualenv that has boto3; returns its stdout.
pub fn boto(script: &str) -> String {
    let out = Command::new(super::env("HEADROOM_TEST_PYTHON"))
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Empties moto: it keeps state between runs of the suite.
pub fn reset() {
    boto(&format!(
        "import urllib.request; urllib.request.urlopen(urllib.request.Request('{}/moto-api/reset', method='POST'))",
        super::env("HEADROOM_TEST_MOTO")
    ));
}
