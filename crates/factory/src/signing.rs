//! How a call to the factory proves who makes it: not at all (the real legacy factory knows
//! nothing of AWS signatures), or — where the factory is the simulator behind a Lambda function
//! URL whose authorization type is `AWS_IAM` — Signature Version 4 for the service `lambda` in
//! the stack's Region, with the calling function's own role credentials (the SDK's standard
//! provider chain: on Lambda, the role's temporary credentials in the environment).
//!
//! Sources:
//! - "If you choose the AWS_IAM auth type, users who need to invoke your Lambda function URL must
//!   have the lambda:InvokeFunctionUrl and lambda:InvokeFunction permissions … each HTTP request
//!   must be signed using SigV4": <https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html>
//!   and <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>; the signing name is
//!   `lambda` (the service of the function URL's Region).
//! - The signer is the SDK's own (`aws-sigv4`), as `donut-cli` signs the operators' API.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::header::{HeaderName, HeaderValue};

/// The signing name of a Lambda function URL.
pub const SERVICE: &str = "lambda";

/// How the client authenticates its calls (`donut_contract::settings::FactoryAuth`, made real).
#[derive(Clone, Debug, Default)]
pub enum CallAuth {
    /// Unsigned: the legacy factory.
    #[default]
    None,
    /// SigV4 for `lambda`: a function URL with `AWS_IAM`.
    SigV4(SigV4Signer),
}

/// Signs requests for one service in one Region with the credentials of a provider (re-asked
/// once the ones it gave have less than a minute to live: a role's or an SSO profile's would
/// otherwise cost an STS call per request). `lambda` for a function URL; `donut-cli` signs the
/// operators' API (`execute-api`) with it too.
#[derive(Clone)]
pub struct SigV4Signer {
    region: String,
    service: &'static str,
    credentials: SharedCredentialsProvider,
    cached: Arc<Mutex<Option<Credentials>>>,
}

impl std::fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    /// A signer for a function URL ([`SERVICE`]).
    pub fn new(region: impl Into<String>, credentials: SharedCredentialsProvider) -> Self {
        Self::for_service(SERVICE, region, credentials)
    }

    pub fn for_service(
        service: &'static str,
        region: impl Into<String>,
        credentials: SharedCredentialsProvider,
    ) -> Self {
        Self {
            region: region.into(),
            service,
            credentials,
            cached: Arc::new(Mutex::new(None)),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    async fn credentials(&self) -> Result<Credentials, String> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + Duration::from_secs(60))
        };
        if let Some(c) = self.cached.lock().expect("not poisoned").as_ref()
            && fresh(c)
        {
            return Ok(c.clone());
        }
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            format!(
                "no AWS credentials to sign {} calls with: {e}",
                self.service
            )
        })?;
        *self.cached.lock().expect("not poisoned") = Some(credentials.clone());
        Ok(credentials)
    }

    /// Signs `request` in place at `at`: sets its `host` header to the one it is sent with,
    /// then adds `x-amz-date`, `authorization` and, for temporary credentials,
    /// `x-amz-security-token`. Every header present is signed, and the body's SHA-256.
    pub async fn sign(&self, request: &mut reqwest::Request, at: SystemTime) -> Result<(), String> {
        let credentials = self.credentials().await?;
        sign_with(request, &credentials, &self.region, self.service, at)
            .map_err(|e| format!("signing: {e}"))
    }
}

/// Signs `request` for `service` in `region` at `at` with `credentials` (see
/// [`SigV4Signer::sign`]).
pub fn sign_with(
    request: &mut reqwest::Request,
    credentials: &Credentials,
    region: &str,
    service: &str,
    at: SystemTime,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let url = request.url();
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => return Err(format!("{url} names no host").into()),
    };
    request
        .headers_mut()
        .insert(reqwest::header::HOST, HeaderValue::from_str(&host)?);
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .map(|(name, value)| Ok((name.as_str(), value.to_str()?)))
        .collect::<Result<_, reqwest::header::ToStrError>>()?;
    let body = match request.body() {
        Some(b) => b.as_bytes().ok_or("a streamed body cannot be signed")?,
        None => &[],
    };
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(SigningSettings::default())
        .build()?
        .into();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url().as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _signature) = sign(signable, &params)?.into_parts();
    let (headers, _params) = instructions.into_parts();
    for header in headers {
        let mut value = HeaderValue::from_str(header.value())?;
        // The signature and the session token stay out of debug output.
        value.set_sensitive(header.sensitive());
        request
            .headers_mut()
            .insert(HeaderName::from_bytes(header.name().as_bytes())?, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(session_token: Option<&str>) -> SigV4Signer {
        SigV4Signer::new(
            "eu-west-1",
            SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                session_token.map(str::to_owned),
                None,
                "test",
            )),
        )
    }

    fn request() -> reqwest::Request {
        reqwest::Client::new()
            .post("https://abc.lambda-url.eu-west-1.on.aws/api/manufactures")
            .header("x-correlation-id", "c-1")
            .body("{}")
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_call_is_signed_for_lambda_in_the_region_with_every_header() {
        let mut r = request();
        signer(None).sign(&mut r, SystemTime::now()).await.unwrap();
        let auth = r.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-1/lambda/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-correlation-id")
                || auth.contains("SignedHeaders=host;x-correlation-id"),
            "{auth}"
        );
        assert_eq!(r.headers()["host"], "abc.lambda-url.eu-west-1.on.aws");
        assert!(r.headers().contains_key("x-amz-date"));
        assert!(!r.headers().contains_key("x-amz-security-token"));
    }

    /// A role's credentials are temporary: their session token goes with the call.
    #[tokio::test]
    async fn a_role_session_token_goes_along() {
        let mut r = request();
        signer(Some("token-1"))
            .sign(&mut r, SystemTime::now())
            .await
            .unwrap();
        assert_eq!(r.headers()["x-amz-security-token"], "token-1");
    }
}
