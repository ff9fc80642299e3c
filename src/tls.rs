//! The HTTP clients for Graph and the SCIM target: the certificates trusted besides the
//! system's (`[source] ca_file`, `[target] ca_file`), one line that says so when a server's
//! certificate is not trusted, and no redirect to another origin.
//!
//! Shared by `source/` and `target/scim/`, like `retry.rs`. Certificates are always verified
//! (rustls, with the system's trust store); there is no switch to turn that off. A private CA is
//! trusted by naming its certificate in `ca_file`, read and checked when the configuration
//! loads. A certificate that is not trusted is not retried: waiting does not make it trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::CertificateError;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// CA certificates from a PEM file, trusted in addition to the system's.
#[derive(Clone)]
pub struct CaBundle {
    /// The file they came from, for messages.
    pub path: PathBuf,
    certificates: Arc<[CertificateDer<'static>]>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl CaBundle {
    /// Reads the PEM file at `path`: one or more `BEGIN CERTIFICATE` blocks, each usable as a
    /// trust anchor. `Err` says what is wrong, for a message that names the key and the path.
    pub fn read(path: &Path) -> Result<CaBundle, String> {
        let pem = std::fs::read(path).map_err(|err| {
            format!("cannot be read ({err}); check the path (relative to the configuration file)")
        })?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("holds a certificate that cannot be read ({err})"))?;
        if certificates.is_empty() {
            return Err("holds no certificate (-----BEGIN CERTIFICATE-----); give the PEM certificate of the CA that signed the server's certificate".into());
        }
        for (n, certificate) in certificates.iter().enumerate() {
            webpki::anchor_from_trusted_cert(certificate).map_err(|err| {
                format!(
                    "has a certificate (the {}. in the file) that cannot be trusted as a CA ({err})",
                    n + 1
                )
            })?;
        }
        Ok(CaBundle {
            path: path.to_owned(),
            certificates: certificates.into(),
        })
    }

    /// How many certificates the file holds.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Never true: a bundle that read holds at least one certificate.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

/// How many redirects within one origin a request follows.
const MAX_REDIRECTS: usize = 10;

/// The builder of every client entrasync sends with (the token endpoint and Graph, the SCIM
/// target): it trusts the system's CAs and `ca`'s certificates, and follows a redirect only
/// within the origin it was sent to. A redirect elsewhere is not followed (the 3xx is the
/// answer): reqwest drops the Authorization header on such a redirect but sends a 307's body
/// again, and the token request's body holds the client secret or the client assertion.
pub fn client_builder(ca: Option<&CaBundle>) -> Result<reqwest::ClientBuilder, reqwest::Error> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if first.is_some_and(|origin| origin != attempt.url().origin()) {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    });
    let builder = reqwest::Client::builder()
        .user_agent(concat!("entrasync/", env!("CARGO_PKG_VERSION")))
        .redirect(redirects);
    let Some(ca) = ca else {
        return Ok(builder);
    };
    let certificates = ca
        .certificates
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(builder.tls_certs_merge(certificates))
}

/// When `err` (or what caused it) is a failed TLS handshake, what went wrong and what to do,
/// `key` being the configuration key that trusts a private CA. `None` for any other error.
pub fn explain(err: &(dyn std::error::Error + 'static), key: &str) -> Option<String> {
    let tls = find_rustls_error(err)?;
    let detail = match tls {
        rustls::Error::InvalidCertificate(why) => match why {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the server's certificate is not trusted ({tls}): it is signed by a CA this machine does not trust; if the server uses a private CA or a self-signed certificate, put that CA's certificate (PEM) in a file and name it in {key}"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "the server's certificate has expired ({tls}); the server must renew it (or this machine's clock is wrong)"
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!(
                    "the server's certificate is not valid yet ({tls}); check this machine's clock (NTP)"
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the server's certificate is not valid for the host in the URL ({tls}); use a host name the certificate names"
                )
            }
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                format!(
                    "the server presents a CA certificate as its own ({tls}), which TLS refuses even when trusted; `openssl req -x509` makes such certificates unless given -addext basicConstraints=critical,CA:FALSE: give the server a certificate signed by a CA, or a self-signed one made with that option, and name the CA (or that certificate) in {key}"
                )
            }
            _ => format!(
                "the server's certificate is not trusted ({tls}); if the server uses a private CA, name its certificate (PEM) in {key}"
            ),
        },
        other => format!(
            "the TLS handshake failed ({other}); check that the URL is the server's https address"
        ),
    };
    Some(detail)
}

/// The rustls error somewhere in `err`'s chain. An `io::Error` shows its inner error's text but
/// skips it in `source()`, so each one is opened with `get_ref`.
fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(tls) = find_rustls_error(inner) {
                return Some(tls);
            }
        }
        next = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-ca.pem");
    const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-server.pem");

    #[test]
    fn a_ca_file_reads_and_bad_ones_say_why() {
        let ca = CaBundle::read(Path::new(CA)).expect("the fixture CA reads");
        assert_eq!(ca.len(), 1);
        assert!(format!("{ca:?}").contains("tls-ca.pem"));
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("writes");
            path
        };
        let key_only = std::fs::read_to_string(SERVER)
            .expect("the fixture")
            .split("-----BEGIN PRIVATE KEY-----")
            .nth(1)
            .map(|rest| format!("-----BEGIN PRIVATE KEY-----{rest}"))
            .expect("a key");
        let broken = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let cases = [
            (dir.path().join("missing.pem"), "cannot be read"),
            (write("empty.pem", ""), "holds no certificate"),
            (write("key.pem", &key_only), "holds no certificate"),
            (
                write("broken.pem", broken),
                "holds a certificate that cannot be read",
            ),
            (write("garbage.pem", garbage), "cannot be trusted as a CA"),
        ];
        for (path, want) in cases {
            let err = CaBundle::read(&path).expect_err(want);
            assert!(err.contains(want), "{}: {err}", path.display());
        }
    }

    #[test]
    fn a_certificate_error_inside_io_errors_is_found_and_explained() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let outer = std::io::Error::other(io);
        let text = explain(&outer, "[source] ca_file").expect("found");
        assert!(text.contains("not trusted"), "{text}");
        assert!(text.contains("[source] ca_file"), "{text}");
        let ca_as_leaf = rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity)),
        ));
        let text = explain(&ca_as_leaf, "[target] ca_file").expect("found");
        assert!(text.contains("CA:FALSE"), "{text}");
        let plain = std::io::Error::other("connection refused");
        assert_eq!(explain(&plain, "[source] ca_file"), None);
    }
}
