//! Two differences between a moto server that enforces IAM and AWS, which keygate's proxy
//! (`AwsProxy::enforce_as`) evens out so that only the policy decides:
//!
//! 1. moto checks the SigV4 signature of a form-encoded (query protocol) request over its own
//!    re-encoding of the form, Python's `urlencode` (a space as `+`), while the AWS SDK for
//!    Rust signs its own bytes (a space as `%20`): any form holding a space (an SNS `Publish`)
//!    never matches. The proxy signs such a request again, with the caller's own key, over
//!    the bytes moto will hash. The access key, and so the policy judged, stay the caller's.
//! 2. moto answers an authorization error in EC2's XML shape (`<Errors><Error>`) whatever the
//!    protocol; AWS answers in each protocol's own shape, which is what the SDK parses. The
//!    proxy rewrites the answer into that shape, code and message unchanged.

use aws_lc_rs::{digest, hmac};
use axum::http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The key keygate signs with. The secret access key is a `SecretString`: its `Debug` is
/// redacted, so no failure message or log can print it.
#[derive(Clone, Debug)]
pub struct Signer {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
}

/// Signs a form-encoded request again over the encoding moto hashes; other requests, and
/// requests signed with another key, are left alone.
pub fn resign_form(
    signer: &Signer,
    method: &str,
    path: &str,
    headers: &mut HeaderMap,
    body: &[u8],
) {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let credential = between(auth, "Credential=", ",");
    let signed = between(auth, "SignedHeaders=", ",");
    let scope: Vec<&str> = credential.splitn(2, '/').collect();
    if !form || scope.len() != 2 || scope[0] != signer.access_key_id {
        return;
    }
    let scope = scope[1].to_string();
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let canonical_request = format!(
        "{method}\n{path}\n\n{canonical_headers}\n{signed}\n{}",
        hex::encode(digest::digest(
            &digest::SHA256,
            python_urlencode(body).as_bytes()
        ))
    );
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(digest::digest(
            &digest::SHA256,
            canonical_request.as_bytes()
        ))
    );
    // SigV4's derived signing key: built in a buffer that is wiped when dropped, fed only to
    // the HMACs below, never formatted; the signature that leaves reveals nothing of it.
    let mut seed = Zeroizing::new(b"AWS4".to_vec());
    seed.extend_from_slice(signer.secret_access_key.expose_secret().as_bytes());
    let mut key = Zeroizing::new(sign(
        &seed,
        scope.split('/').next().unwrap_or("").as_bytes(),
    ));
    for part in scope.split('/').skip(1) {
        key = Zeroizing::new(sign(&key, part.as_bytes()));
    }
    let signature = hex::encode(sign(&key, string_to_sign.as_bytes()));
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        signer.access_key_id
    );
    headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
}

/// moto's authorization error in the shape the caller's protocol uses; `None` when `body`
/// is not one.
pub fn aws_shaped_error(json_protocol: bool, body: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(body);
    if !text.contains("<Errors><Error>") {
        return None;
    }
    let code = between(&text, "<Code>", "<").to_string();
    let message = between(&text, "<Message>", "<").to_string();
    Some(if json_protocol {
        (
            "application/x-amz-json-1.1".to_string(),
            serde_json::json!({"__type": format!("{code}Exception"), "message": message})
                .to_string(),
        )
    } else {
        (
            "text/xml".to_string(),
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>moto</RequestId></ErrorResponse>"
            ),
        )
    })
}

fn sign(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let rest = s.split_once(start).map(|(_, r)| r).unwrap_or("");
    rest.split(end).next().unwrap_or("")
}

/// The form as Python's `urlencode(parse_qsl(body))` writes it: each name and value
/// decoded, then encoded with only ASCII letters, digits and `_.-~` kept and a space as `+`.
fn python_urlencode(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut pairs = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push(format!(
            "{}={}",
            quote_plus(&unquote(name)),
            quote_plus(&unquote(value))
        ));
    }
    pairs.join("&")
}

fn unquote(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn quote_plus(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
