//! RFC 8705 §3.1: the SHA-256 thumbprint of the client certificate Envoy
//! passes in `source.certificate` (URL-encoded PEM, with
//! `include_peer_certificate: true`).

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Longest certificate text read.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

/// base64url(SHA-256(DER)) of the first certificate in `url_encoded_pem`,
/// or `None` when it is empty or not a PEM certificate.
pub fn certificate_thumbprint(url_encoded_pem: &str) -> Option<String> {
    if url_encoded_pem.is_empty() || url_encoded_pem.len() > MAX_CERTIFICATE_BYTES {
        return None;
    }
    let pem = percent_encoding::percent_decode_str(url_encoded_pem).collect::<Vec<u8>>();
    let der = CertificateDer::from_pem_slice(&pem).ok()?;
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der.as_ref())))
}
