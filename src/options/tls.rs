//! `redis.tls`, as ioredis takes it: CAs, a client certificate, verification.

use std::sync::Arc;

use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::raw::Raw;
use crate::error::{CacheError, Result};

/// TLS beyond what a `rediss://` URL says: trusted CAs, a client certificate, verification.
#[derive(Debug, Clone)]
pub struct Tls {
    pub certificates: TlsCertificates,
    /// ioredis' `rejectUnauthorized`; `false` accepts any server certificate.
    pub verify: bool,
}

impl Tls {
    /// The crate's name for `verify`.
    pub fn mode(&self) -> redis::TlsMode {
        if self.verify {
            redis::TlsMode::Secure
        } else {
            redis::TlsMode::Insecure
        }
    }
}

/// `redis.tls` the ioredis way: `true`/`{}` turns TLS on; `ca`, `cert` and `key` are PEM
/// (strings or Buffers, `ca` also an array of them); `rejectUnauthorized: false` skips
/// verification. Keys this client would silently ignore are refused instead.
pub(super) fn tls(raw: &Raw) -> Result<Option<Tls>> {
    const KNOWN: [&str; 4] = ["ca", "cert", "key", "rejectUnauthorized"];
    let fields = match raw {
        Raw::Missing | Raw::Bool(false) => return Ok(None),
        Raw::Bool(true) => &Vec::new(),
        Raw::Map(fields) => fields,
        other => {
            return Err(CacheError::Type(format!(
            "options.redis.tls must be true or an object like {{ ca, rejectUnauthorized }}, got {}",
            other.shape_name()
        )))
        }
    };
    if let Some((name, _)) =
        fields.iter().find(|(k, v)| !KNOWN.contains(&k.as_str()) && *v != Raw::Missing)
    {
        return Err(CacheError::Range(format!(
            "options.redis.tls.{name} is not supported; supported are {}",
            KNOWN.join(", ")
        )));
    }
    let ca = match raw.field("ca") {
        Raw::List(items) => {
            let mut all = Vec::new();
            for (i, item) in items.iter().enumerate() {
                all.extend(pem(item, &format!("ca[{i}]"))?.unwrap_or_default());
                all.push(b'\n');
            }
            Some(all)
        }
        one => pem(one, "ca")?,
    };
    let client_tls = match (pem(raw.field("cert"), "cert")?, pem(raw.field("key"), "key")?) {
        (Some(client_cert), Some(client_key)) => Some(ClientTlsConfig { client_cert, client_key }),
        (None, None) => None,
        _ => {
            return Err(CacheError::Range(
                "options.redis.tls: cert and key must be given together".into(),
            ))
        }
    };
    if let Some(ca) = &ca {
        check_ca(ca)?;
    }
    if let Some(client) = &client_tls {
        check_client_identity(client)?;
    }
    let verify = match raw.field("rejectUnauthorized") {
        Raw::Missing => true,
        Raw::Bool(b) => *b,
        other => {
            return Err(CacheError::Type(format!(
                "options.redis.tls.rejectUnauthorized must be a boolean, got {}",
                other.shape_name()
            )))
        }
    };
    Ok(Some(Tls { certificates: TlsCertificates { client_tls, root_cert: ca }, verify }))
}

/// A PEM option's bytes. Contents are checked here only for being PEM at all; a bad
/// certificate inside is reported when the client is built.
fn pem(raw: &Raw, name: &str) -> Result<Option<Vec<u8>>> {
    let bytes = match raw {
        Raw::Missing => return Ok(None),
        Raw::Str(s) => s.as_bytes().to_vec(),
        Raw::Bytes(b) => b.clone(),
        other => {
            return Err(CacheError::Type(format!(
                "options.redis.tls.{name} must be PEM text (a string or Buffer), got {}",
                other.shape_name()
            )))
        }
    };
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(CacheError::Range(format!(
            "options.redis.tls.{name} is not PEM text; pass the file's contents, e.g. fs.readFileSync(path)"
        )));
    }
    Ok(Some(bytes))
}

fn bad_pem(name: &str, e: impl std::fmt::Display) -> CacheError {
    CacheError::Range(format!("options.redis.tls.{name} could not be used: {e}"))
}

/// Every CA certificate parses as a trust anchor, so a bad one fails here, not at connect.
fn check_ca(ca: &[u8]) -> Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.map_err(|e| bad_pem("ca", e))?).map_err(|e| bad_pem("ca", e))?;
    }
    Ok(())
}

/// The client certificate and key parse and belong together.
fn check_client_identity(client: &ClientTlsConfig) -> Result<()> {
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&client.client_cert)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad_pem("cert", e))?;
    let key = PrivateKeyDer::from_pem_slice(&client.client_key).map_err(|e| bad_pem("key", e))?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_pem("cert", e))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad_pem("key", e))?;
    Ok(())
}

/// Puts a node on TLS when `redis.tls` asks for it (a `rediss://` URL already is).
pub(super) fn secure(connection: ConnectionInfo, tls: &Option<Tls>) -> ConnectionInfo {
    let Some(tls) = tls else { return connection };
    let addr = match connection.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: !tls.verify,
                tls_params: None,
            }
        }
        other => other.clone(),
    };
    connection.set_addr(addr)
}
