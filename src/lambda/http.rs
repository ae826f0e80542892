//! A function-URL request in, an `http::Request` for `server::router` out, and its response
//! back in the function URL's response format. Both conversions are pure.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// Why a function-URL event cannot be made into a request. Named without the event's values.
#[derive(Debug, thiserror::Error)]
pub enum HttpEventError {
    #[error("the HTTP event does not have the function URL's fields: {0}")]
    Fields(String),
    #[error("the HTTP event's method is not an HTTP method")]
    Method,
    #[error("the HTTP event's path or query is not a valid URI")]
    Uri,
    #[error("the HTTP event's body is marked base64 but is not")]
    Base64,
}

/// The request the event describes: method, raw path and query, headers (with the cookies
/// Lambda lifts out of them put back), and the body, decoded when it came base64-encoded.
pub fn request(event: Value) -> Result<Request<Body>, HttpEventError> {
    let event: LambdaFunctionUrlRequest = serde_json::from_value(event)
        // serde's message names the field, never a value of the event.
        .map_err(|e| HttpEventError::Fields(without_values(&e)))?;
    let method = event
        .request_context
        .http
        .method
        .as_deref()
        .unwrap_or("GET");
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HttpEventError::Method)?;
    let path = event
        .raw_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let uri = match event.raw_query_string.as_deref() {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    let body = match (event.body, event.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(text), true) => STANDARD
            .decode(text.as_bytes())
            .map_err(|_| HttpEventError::Base64)?,
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .map_err(|_| HttpEventError::Uri)?;
    *req.headers_mut() = event.headers;
    if let Some(cookies) = event.cookies.filter(|c| !c.is_empty())
        && let Ok(v) = HeaderValue::from_str(&cookies.join("; "))
    {
        req.headers_mut().insert(header::COOKIE, v);
    }
    Ok(req)
}

/// serde's error without the value it quotes (`invalid type: string "…", expected …`).
fn without_values(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.split_once(": ") {
        Some((what, _)) if what.starts_with("invalid") => what.to_string(),
        _ if text.starts_with("missing field") => text,
        _ => "a field of the wrong type".into(),
    }
}

/// The router's answer in the function URL's response format. A body that is UTF-8 goes as
/// text, any other base64-encoded; `Set-Cookie` headers go in `cookies`, as Lambda wants.
pub fn response(status: StatusCode, headers: &axum::http::HeaderMap, body: &[u8]) -> Value {
    let mut fields = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        if name == header::SET_COOKIE {
            cookies.push(Value::String(value.to_string()));
            continue;
        }
        // Lambda takes one value per name: repeated headers are joined, as HTTP allows.
        match fields.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            _ => {
                fields.insert(name.as_str().to_string(), Value::String(value.to_string()));
            }
        }
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    json!({
        "statusCode": status.as_u16(),
        "headers": fields,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": encoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    /// AWS's documented function-URL request (fixtures/, from the Lambda developer guide).
    fn function_url() -> Value {
        serde_json::from_str(include_str!("fixtures/function-url-request.json")).unwrap()
    }

    async fn body_of(req: Request<Body>) -> Vec<u8> {
        axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn a_function_url_request_keeps_method_path_query_headers_cookies_and_body() {
        let req = request(function_url()).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri(),
            "/my/path?parameter1=value1&parameter1=value2&parameter2=value"
        );
        assert_eq!(req.headers()["header2"], "value1,value2");
        assert_eq!(req.headers()["cookie"], "cookie1; cookie2");
        assert_eq!(body_of(req).await, b"Hello from client!");
    }

    #[tokio::test]
    async fn an_http_api_request_without_body_or_query_is_a_bare_get() {
        let event = serde_json::from_str(include_str!("fixtures/apigw-v2-request.json")).unwrap();
        let req = request(event).unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers()["user-agent"], "curl/7.58.0");
        assert!(body_of(req).await.is_empty());
    }

    #[tokio::test]
    async fn a_base64_body_reaches_the_router_as_the_bytes_it_encodes() {
        let mut event = function_url();
        event["isBase64Encoded"] = json!(true);
        event["body"] = json!(STANDARD.encode([0u8, 159, 146, 150]));
        let req = request(event).unwrap();
        assert_eq!(body_of(req).await, [0u8, 159, 146, 150]);

        let mut event = function_url();
        event["isBase64Encoded"] = json!(true);
        event["body"] = json!("not base64!");
        assert!(matches!(request(event), Err(HttpEventError::Base64)));
    }

    #[test]
    fn a_malformed_event_is_named_without_its_values() {
        let mut event = function_url();
        event["isBase64Encoded"] = json!("secret-looking-text");
        let err = request(event).unwrap_err().to_string();
        assert!(err.contains("function URL's fields"), "{err}");
        assert!(!err.contains("secret-looking-text"), "{err}");
    }

    #[test]
    fn a_text_response_goes_as_text_with_its_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        headers.append("vary", "accept".parse().unwrap());
        headers.append("vary", "origin".parse().unwrap());
        headers.append(header::SET_COOKIE, "a=1".parse().unwrap());
        let out = response(StatusCode::ACCEPTED, &headers, b"queued\n");
        assert_eq!(
            out,
            json!({
                "statusCode": 202,
                "headers": {"content-type": "text/plain", "vary": "accept, origin"},
                "cookies": ["a=1"],
                "body": "queued\n",
                "isBase64Encoded": false,
            })
        );
    }

    #[test]
    fn a_binary_response_goes_base64_encoded() {
        let out = response(StatusCode::OK, &HeaderMap::new(), &[0xff, 0x00, 0x10]);
        assert_eq!(out["isBase64Encoded"], true);
        assert_eq!(
            STANDARD.decode(out["body"].as_str().unwrap()).unwrap(),
            [0xff, 0x00, 0x10]
        );
    }
}
