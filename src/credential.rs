//! How entrasync proves who it is to Entra: a client secret, or a certificate whose private key
//! signs a client assertion (a JWT, RFC 7523) for each token request.
//!
//! The configuration builds a [`Credential`] when it loads (so a bad key file is a config error
//! naming the key); `source/auth.rs` puts it on the wire. Like [`Secret`], neither the secret nor
//! the private key can be printed: `Debug` shows only the certificate's thumbprint, which Entra
//! shows too.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::secret::Secret;

/// The `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid: Entra accepts up to ten minutes.
const ASSERTION_LIFETIME_S: u64 = 600;

/// What the app signs in with.
#[derive(Debug, Clone)]
pub enum Credential {
    Secret(Secret),
    Certificate(Arc<ClientCertificate>),
}

impl Credential {
    /// The client secret, when that is the credential.
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Credential::Secret(secret) => Some(secret),
            Credential::Certificate(_) => None,
        }
    }
}

/// A certificate registered on the app, with its private key.
pub struct ClientCertificate {
    key: RsaKeyPair,
    /// Base64url SHA-1 and SHA-256 thumbprints of the certificate (`x5t`, `x5t#S256`).
    x5t: String,
    x5t_s256: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads a PEM file's text: the certificate (`BEGIN CERTIFICATE`) and its RSA private key
    /// (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`, unencrypted). `Err` says what is
    /// missing or wrong, never showing the key.
    pub fn from_pem(pem: &[u8]) -> Result<ClientCertificate, String> {
        let certificate = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or("holds no certificate (-----BEGIN CERTIFICATE-----); put the certificate and its private key in one PEM file")?
            .map_err(|err| format!("has a certificate that cannot be read ({err})"))?;
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
            "holds no unencrypted private key (-----BEGIN PRIVATE KEY-----); put the certificate's private key in the same PEM file (openssl pkcs12 -nodes exports one)".to_owned()
        })?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => {
                return Err(
                    "holds a private key that is not RSA; Entra app certificates are RSA".into(),
                );
            }
        }
        .map_err(|_| "holds a private key that is not a usable RSA key (2048 bits or more)")?;
        let digest = |algorithm| B64.encode(aws_lc_rs::digest::digest(algorithm, &certificate));
        Ok(ClientCertificate {
            key,
            x5t: digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY),
            x5t_s256: digest(&aws_lc_rs::digest::SHA256),
        })
    }

    /// The SHA-256 thumbprint (base64url), as `x5t#S256`.
    pub fn thumbprint_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// A client assertion for `client_id` at `token_url`, valid from `now_unix` for ten
    /// minutes, with `jti` as its unique id.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now_unix: u64,
        jti: &str,
    ) -> Result<Secret, String> {
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5t": self.x5t,
            "x5t#S256": self.x5t_s256,
        });
        let claims = serde_json::json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": jti,
            "nbf": now_unix,
            "iat": now_unix,
            "exp": now_unix + ASSERTION_LIFETIME_S,
        });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "the certificate's private key could not sign the client assertion")?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            B64.encode(signature)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &[u8] = include_bytes!("../tests/fixtures/client-certificate.pem");

    #[test]
    fn an_assertion_is_a_signed_jwt_with_the_claims_entra_checks() {
        let certificate = ClientCertificate::from_pem(PEM).expect("the fixture loads");
        let jwt = certificate
            .assertion(
                "app-id",
                "https://login.example/t/oauth2/v2.0/token",
                1_000,
                "j-1",
            )
            .expect("signs");
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |part: &str| -> serde_json::Value {
            serde_json::from_slice(&B64.decode(part).expect("base64url")).expect("JSON")
        };
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t#S256"], certificate.thumbprint_s256());
        assert_eq!(
            header["x5t"].as_str().map(str::len),
            Some(27),
            "SHA-1, base64url"
        );
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str()),
            (Some("app-id"), Some("app-id"))
        );
        assert_eq!(
            (claims["nbf"].as_u64(), claims["exp"].as_u64()),
            (Some(1_000), Some(1_600))
        );
        assert_eq!(claims["jti"], "j-1");
        assert_eq!(
            B64.decode(parts[2]).expect("a signature").len(),
            256,
            "RSA 2048"
        );
        assert!(
            !format!("{certificate:?}").contains("PRIVATE"),
            "Debug shows no key"
        );
    }

    #[test]
    fn pem_files_without_a_certificate_or_a_key_say_what_is_missing() {
        let text = String::from_utf8_lossy(PEM);
        let key_only: String = text
            .split("-----BEGIN CERTIFICATE-----")
            .next()
            .unwrap_or_default()
            .to_owned();
        let cert_only = format!(
            "-----BEGIN CERTIFICATE-----{}",
            text.split("-----BEGIN CERTIFICATE-----")
                .nth(1)
                .unwrap_or_default()
        );
        let cases = [
            (key_only.as_bytes(), "holds no certificate"),
            (cert_only.as_bytes(), "holds no unencrypted private key"),
            (&b"not a pem file"[..], "holds no certificate"),
        ];
        for (pem, want) in cases {
            let err = ClientCertificate::from_pem(pem).expect_err(want);
            assert!(err.contains(want), "{err}");
        }
    }
}
