//! A client of the REST API, for `agentdesk desktops ...` and `agentdesk snapshots ...`: one
//! request per command (a long one read as it reports progress), over
//! HTTP or HTTPS (rustls; the system's CA certificates, or `--ca-cert` for a private one).
//! [`Target`] also carries the agent loop's requests to model providers (`agent/provider.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where Debian keeps the system's CA certificates.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How long one request may take (a create starts a desktop: about a second).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A server to talk to.
#[derive(Debug, Clone)]
pub struct ApiClient {
    target: Target,
    token: Option<String>,
}

/// Where requests go: an HTTP or HTTPS origin, and a path prefix (a model provider's base URL
/// such as `https://api.openai.com/v1`; empty for agentdesk's own API).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    scheme: String,
    host: String,
    port: u16,
    prefix: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    /// Reads `url`; `ca_cert` is a PEM file of certificates to trust for HTTPS instead of the
    /// system's. A path is kept as the prefix of every request's.
    pub(crate) fn parse(url: &str, ca_cert: Option<&Path>) -> anyhow::Result<Target> {
        let uri: http::Uri = url
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("{url:?} is not a URL such as http://127.0.0.1:3000"))?;
        let scheme = uri
            .scheme_str()
            .with_context(|| format!("{url:?} names no scheme; begin it with http:// or https://"))?
            .to_string();
        let host = uri
            .host()
            .with_context(|| format!("{url:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let (port, tls) = match scheme.as_str() {
            "http" => (uri.port_u16().unwrap_or(80), None),
            "https" => (uri.port_u16().unwrap_or(443), Some(tls_config(ca_cert)?)),
            other => bail!("unsupported scheme {other:?}; use http:// or https://"),
        };
        if uri.query().is_some() {
            bail!("{url:?}: give the address without a query");
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            bail!("credentials in a URL are not sent; give the address without them (a model's key goes in api_key)");
        }
        Ok(Target {
            scheme,
            host,
            port,
            prefix: uri.path().trim_end_matches('/').to_string(),
            tls,
        })
    }

    /// `scheme://host:port` and the prefix.
    pub(crate) fn describe(&self) -> String {
        format!("{}{}", self.origin(), self.prefix)
    }

    /// `scheme://host:port`: the address without its path (which may hold a secret, such as
    /// a gateway's tenant), for messages that others read.
    pub(crate) fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }

    /// Sends one request (`path` under the prefix) and returns the response as it starts.
    pub(crate) async fn send(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let address = format!("{}:{}", self.host, self.port);
        let tcp = tokio::net::TcpStream::connect(&address)
            .await
            .with_context(|| format!("cannot reach {}", self.origin()))?;
        let host_header = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            address.clone()
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(http::header::HOST, host_header);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let bytes = match body {
            Some(body) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                body
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(bytes))?;
        let response = match &self.tls {
            None => exchange(TokioIo::new(tcp), request).await?,
            Some(config) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .with_context(|| format!("{:?} is not a valid TLS server name", self.host))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .with_context(|| format!("TLS with {} failed", self.origin()))?;
                exchange(TokioIo::new(tls), request).await?
            }
        };
        Ok(response)
    }
}

/// An answer: the HTTP status and the JSON body.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The body (`{"error": ...}` on failure).
    pub body: Value,
}

impl ApiClient {
    /// A client of the server at `url` (`http://host:port` or `https://...`), sending `token`
    /// as a bearer token if given; `ca_cert` is a PEM file of certificates to trust for HTTPS
    /// instead of the system's.
    pub fn new(url: &str, token: Option<String>, ca_cert: Option<&Path>) -> anyhow::Result<Self> {
        let target = Target::parse(url, ca_cert)?;
        if !target.prefix.is_empty() {
            bail!("give the server's address without a path, e.g. http://127.0.0.1:3000");
        }
        Ok(ApiClient { target, token })
    }

    /// Sends one request and reads the JSON answer.
    pub async fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<ApiAnswer> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.send(method, path, body))
            .await
            .with_context(|| {
                format!(
                    "no answer from {} within {} s",
                    self.target.describe(),
                    REQUEST_TIMEOUT.as_secs()
                )
            })?
    }

    /// Sends a long operation (a snapshot save, restore or verify, a create from a snapshot)
    /// and reads its answer as it comes: `progress` is called with each progress line's bytes
    /// done and in all, until the result. Waits as long as the server keeps the connection.
    pub async fn request_with_progress(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
        mut progress: impl FnMut(u64, u64),
    ) -> anyhow::Result<ApiAnswer> {
        let response = self
            .exchange_with(method, path, body, "application/x-ndjson")
            .await?;
        let status = response.status().as_u16();
        let ndjson = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/x-ndjson"));
        if !ndjson {
            return read_answer(status, response).await;
        }
        let mut body = response.into_body();
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the answer was cut off")?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Ok(value) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                if let Some(p) = value.get("progress") {
                    progress(
                        p["done"].as_u64().unwrap_or(0),
                        p["total"].as_u64().unwrap_or(0),
                    );
                } else if let Some(result) = value.get("result") {
                    return Ok(ApiAnswer {
                        status,
                        body: result.clone(),
                    });
                } else if let Some(error) = value.get("error") {
                    return Ok(ApiAnswer {
                        status: value["status"].as_u64().map_or(500, |s| s as u16),
                        body: serde_json::json!({ "error": error }),
                    });
                }
            }
        }
        bail!("the server ended the answer before the result (was it stopped?)")
    }

    /// Follows a Server-Sent Events stream (`GET path`), from after event `last` (0: from the
    /// start), calling `event` with each event's id, name and JSON until it returns false or
    /// the server ends the stream. Returns the last event's id, for a reconnection.
    pub async fn follow_events(
        &self,
        path: &str,
        last: u64,
        mut event: impl FnMut(u64, &str, Value) -> bool,
    ) -> anyhow::Result<u64> {
        let authorization = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let last_text = last.to_string();
        let mut headers = vec![("accept", "text/event-stream")];
        if last > 0 {
            headers.push(("last-event-id", last_text.as_str()));
        }
        if let Some(a) = &authorization {
            headers.push(("authorization", a.as_str()));
        }
        let response = self
            .target
            .send(http::Method::GET, path, &headers, None)
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            let answer = read_answer(status, response).await?;
            bail!(
                "{} (HTTP {status})",
                answer.body["error"]
                    .as_str()
                    .unwrap_or("the stream was refused")
            );
        }
        let mut body = response.into_body();
        let mut pending = Vec::new();
        let (mut id, mut name, mut data) = (last, String::from("message"), String::new());
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the stream was cut off")?;
            let Some(bytes) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(bytes);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\r', '\n']);
                if line.is_empty() {
                    if !data.is_empty() {
                        let json =
                            serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
                        if !event(id, &name, json) {
                            return Ok(id);
                        }
                    }
                    name = "message".into();
                    data.clear();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().unwrap_or(id);
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        }
        Ok(id)
    }

    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<ApiAnswer> {
        let response = self
            .exchange_with(method, path, body, "application/json")
            .await?;
        read_answer(response.status().as_u16(), response).await
    }

    async fn exchange_with(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
        accept: &str,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let authorization = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("accept", accept)];
        if let Some(a) = &authorization {
            headers.push(("authorization", a.as_str()));
        }
        let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        self.target
            .send(method, path, &headers, body.map(Bytes::from))
            .await
            .map_err(|e| {
                if e.to_string().starts_with("cannot reach") {
                    e.context(
                        "no agentdesk there: is `agentdesk serve` running? (--server or \
                         AGENTDESK_SERVER names another)",
                    )
                } else {
                    e
                }
            })
    }
}

/// Reads a whole JSON answer.
async fn read_answer(
    status: u16,
    response: http::Response<hyper::body::Incoming>,
) -> anyhow::Result<ApiAnswer> {
    let bytes = response
        .into_body()
        .collect()
        .await
        .context("the answer was cut off")?
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        // The gate answers some refusals (401, 403) in plain text.
        serde_json::json!({ "error": String::from_utf8_lossy(&bytes).trim() })
    });
    Ok(ApiAnswer { status, body })
}

async fn exchange<IO>(
    io: IO,
    request: http::Request<Full<Bytes>>,
) -> anyhow::Result<http::Response<hyper::body::Incoming>>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .context("the request failed")
}

fn tls_config(ca_cert: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject as _;
    let path = ca_cert.unwrap_or(Path::new(SYSTEM_CAS));
    let mut roots = rustls::RootCertStore::empty();
    let mut pinned = Vec::new();
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .with_context(|| format!("error reading CA certificates from {}", path.display()))?;
    for cert in certs {
        let cert =
            cert.with_context(|| format!("a certificate in {} is invalid", path.display()))?;
        if ca_cert.is_some() {
            pinned.push(cert.clone());
        }
        // A self-signed server certificate (openssl req -x509) may not be usable as a root;
        // it is still trusted below, as itself.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .with_context(|| format!("no usable CA certificate in {}", path.display()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pinned, webpki }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Trusts the server's certificate if it is one of those in `--ca-cert` exactly (a self-signed
/// certificate, which WebPKI refuses as its own root: "CA used as end entity"), else verifies
/// it against them (or the system's) as roots. Signatures are always checked.
#[derive(Debug)]
struct Pinned {
    pinned: Vec<rustls_pki_types::CertificateDer<'static>>,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
