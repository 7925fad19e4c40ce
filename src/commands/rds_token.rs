//! `headroom rds-token`: an RDS IAM authentication token, as `aws rds
//! generate-db-auth-token` prints it.

use crate::cli::RdsTokenArgs;
use crate::sources::aws::Clients;
use crate::sources::aws::rds_token::{TokenFor, token};

/// The token, signed now with the default credential provider chain's credentials.
pub async fn run(a: &RdsTokenArgs) -> Result<String, String> {
    token(
        &Clients::default(),
        &TokenFor {
            host: &a.host,
            port: a.port,
            user: &a.user,
            region: &a.region,
        },
    )
    .await
}
