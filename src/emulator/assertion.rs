//! The emulator's check of a client assertion (certificate credentials): a JWT signed with the
//! key of the certificate registered on the app, as Entra checks it — the certificate by its
//! thumbprint, the RS256 signature, the audience (the token URL), issuer and subject (the client
//! id) and the time window.
//!
//! Part of `emulator/`; `auth.rs` calls it for a token request that carries `client_assertion`.
//! Failures come back as Entra's AADSTS code and text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why an assertion was refused: the AADSTS code and Entra's text.
pub type Refusal = (u32, String);

/// How far `nbf` may be in the future (clock skew Entra tolerates).
const SKEW_S: u64 = 300;

/// Checks `jwt` for the app `client_id` at `token_url`, against the registered `certificate`
/// (PEM), at `now_unix`.
pub fn check(
    jwt: &str,
    certificate: Option<&str>,
    client_id: &str,
    token_url: &str,
    now_unix: u64,
) -> Result<(), Refusal> {
    let malformed = || (50_027, "JWT token is invalid or malformed.".to_owned());
    let mut parts = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let decode = |part: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&B64.decode(part).ok()?).ok()
    };
    let (Some(head), Some(body), Ok(signature)) =
        (decode(header), decode(claims), B64.decode(signature))
    else {
        return Err(malformed());
    };
    let presented = head["x5t#S256"].as_str().unwrap_or_default();
    let registered = certificate
        .and_then(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok())
        .filter(|der| {
            B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)) == presented
        });
    let Some(der) = registered else {
        return Err((
            700_027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{presented}']"
            ),
        ));
    };
    let signed = webpki::EndEntityCert::try_from(&der).and_then(|cert| {
        cert.verify_signature(
            webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
            format!("{header}.{claims}").as_bytes(),
            &signature,
        )
    });
    if head["alg"] != "RS256" || signed.is_err() {
        return Err((
            700_027,
            "Client assertion contains an invalid signature. [Reason - The signature is invalid.]"
                .to_owned(),
        ));
    }
    if body["aud"].as_str() != Some(token_url) {
        return Err((
            700_027,
            format!(
                "Client assertion contains an invalid audience. Expected '{token_url}', found '{}'.",
                body["aud"].as_str().unwrap_or_default()
            ),
        ));
    }
    if body["iss"].as_str() != Some(client_id) || body["sub"].as_str() != Some(client_id) {
        return Err((
            700_021,
            "Client assertion application identifier doesn't match 'client_id' parameter."
                .to_owned(),
        ));
    }
    let in_time = match (body["nbf"].as_u64(), body["exp"].as_u64()) {
        (Some(nbf), Some(exp)) => nbf <= now_unix + SKEW_S && now_unix < exp,
        _ => false,
    };
    if !in_time {
        return Err((
            700_024,
            "Client assertion is not within its valid time range.".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::ClientCertificate;

    const PEM: &str = include_str!("../../tests/fixtures/client-certificate.pem");
    const URL: &str = "http://127.0.0.1:1/contoso/oauth2/v2.0/token";

    fn signed(client_id: &str, aud: &str, now: u64) -> String {
        ClientCertificate::from_pem(PEM.as_bytes())
            .expect("the fixture loads")
            .assertion(client_id, aud, now, "jti")
            .expect("signs")
            .expose()
            .to_owned()
    }

    #[test]
    fn entra_checks_key_signature_audience_client_and_time() {
        let now = 1_800_000_000;
        let good = signed("app", URL, now);
        assert_eq!(check(&good, Some(PEM), "app", URL, now + 10), Ok(()));
        let mut tampered = good.clone();
        tampered.replace_range(tampered.len() - 6.., "AAAAAA");
        let other = include_str!("../../tests/fixtures/other-certificate.pem");
        let cases = [
            (
                good.clone(),
                Some(other),
                "app",
                now,
                700_027,
                "key was not found",
            ),
            (good.clone(), None, "app", now, 700_027, "key was not found"),
            (
                tampered,
                Some(PEM),
                "app",
                now,
                700_027,
                "signature is invalid",
            ),
            (
                signed("app", "http://elsewhere/token", now),
                Some(PEM),
                "app",
                now,
                700_027,
                "audience",
            ),
            (
                good.clone(),
                Some(PEM),
                "another-app",
                now,
                700_021,
                "client_id",
            ),
            (
                good.clone(),
                Some(PEM),
                "app",
                now + 601,
                700_024,
                "time range",
            ),
            (
                good.clone(),
                Some(PEM),
                "app",
                now - 301,
                700_024,
                "time range",
            ),
            ("a.b".to_owned(), Some(PEM), "app", now, 50_027, "malformed"),
        ];
        for (jwt, certificate, client, at, code, text) in cases {
            let (got, said) = check(&jwt, certificate, client, URL, at).expect_err(text);
            assert_eq!(got, code, "{text}: {said}");
            assert!(said.contains(text), "{said}");
        }
    }
}
