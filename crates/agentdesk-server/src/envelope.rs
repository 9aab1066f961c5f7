//! The JSON-RPC envelope of a POSTed message, checked before rmcp sees it.
//!
//! rmcp answers some malformed messages unhelpfully: `tools/call` with `arguments` that are not
//! an object, or without a `name`, becomes -32601 "Method not found" with the method as the
//! whole message; invalid JSON becomes HTTP 415. Agents read these answers, so the gate refuses
//! such messages itself, with the JSON-RPC error the specification names and a message that
//! says what to send instead. Everything else about the message is rmcp's business.

use serde_json::{Map, Value};

/// What the gate needs from a well-formed message.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    /// The id, for a request.
    pub(crate) id: Option<Value>,
    /// A call that counts against the rate limit and is audited: `tools/call` (the tool's
    /// name and arguments) or `resources/read` (`"resources/read"` and the uri).
    pub(crate) call: Option<(String, Map<String, Value>)>,
}

/// A refusal: the JSON-RPC error code, the message, and whether the HTTP status is 400 (the
/// message is not a usable JSON-RPC request) or 200 (a request with invalid params).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) id: Value,
    pub(crate) bad_request: bool,
}

fn invalid_request(message: &str) -> Refusal {
    Refusal {
        code: -32600,
        message: message.to_string(),
        id: Value::Null,
        bad_request: true,
    }
}

fn invalid_params(id: &Value, message: String) -> Refusal {
    Refusal {
        code: -32602,
        message,
        id: id.clone(),
        bad_request: false,
    }
}

/// Checks a POST body (or a stdio line). `modern` says the request names protocol 2026-07-28
/// or later in its headers, where `initialize` no longer exists and rmcp's 404 is the answer.
pub(crate) fn check(body: &[u8], modern: bool) -> Result<Envelope, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Refusal {
        code: -32700,
        message: format!("the body is not valid JSON ({e}); send one JSON-RPC request object"),
        id: Value::Null,
        bad_request: true,
    })?;
    let message =
        match value {
            Value::Object(message) => message,
            Value::Array(_) => return Err(invalid_request(
                "JSON-RPC batches are not supported (MCP removed them in 2025-06-18); send one \
                 request per POST",
            )),
            _ => return Err(invalid_request("a JSON-RPC message must be an object")),
        };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid_request(
            "a JSON-RPC message needs \"jsonrpc\": \"2.0\"",
        ));
    }
    let id = message.get("id").cloned();
    if let Some(id) = &id {
        if !(id.is_string() || id.is_number()) {
            return Err(invalid_request(
                "a request's id must be a string or an integer (MCP forbids null)",
            ));
        }
    }
    let method = match message.get("method") {
        None => None,
        Some(Value::String(m)) if !m.trim().is_empty() => Some(m.clone()),
        Some(_) => {
            return Err(invalid_request(
                "\"method\" must be a non-empty string, e.g. \"tools/call\"",
            ))
        }
    };
    let Some(name) = method.as_deref() else {
        // A response to a server request (none are sent in stateless mode): rmcp's business.
        return Ok(Envelope { id, call: None });
    };
    let Some(id_or_null) = id.clone() else {
        // A notification gets no answer, not even an error: rmcp accepts and drops it.
        return Ok(Envelope { id, call: None });
    };
    let params = match message.get("params") {
        None => None,
        Some(Value::Object(params)) => Some(params),
        Some(_) => {
            return Err(invalid_params(
                &id_or_null,
                format!("{name}: \"params\" must be an object"),
            ))
        }
    };
    let call = match name {
        "tools/call" => Some(tool_call(params, &id_or_null)?),
        "resources/read" => {
            let Some(uri) = params.and_then(|p| p.get("uri")).filter(|u| u.is_string()) else {
                return Err(invalid_params(
                    &id_or_null,
                    "resources/read needs params.uri, a string such as \"ghostdesk://apps\"; \
                     resources/list names them"
                        .into(),
                ));
            };
            let mut arguments = Map::new();
            arguments.insert("uri".into(), uri.clone());
            Some((crate::mcp::RESOURCE_READ.to_string(), arguments))
        }
        "initialize" if !modern && !names_modern_version(params) => {
            let version = params.and_then(|p| p.get("protocolVersion"));
            if !version.is_some_and(Value::is_string) {
                return Err(invalid_params(
                    &id_or_null,
                    "initialize needs params.protocolVersion (a string such as \"2025-11-25\"), \
                     params.capabilities and params.clientInfo"
                        .into(),
                ));
            }
            None
        }
        _ => None,
    };
    Ok(Envelope { id, call })
}

/// Whether `params._meta` carries the 2026-07-28 per-request protocol version.
fn names_modern_version(params: Option<&Map<String, Value>>) -> bool {
    params
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key("io.modelcontextprotocol/protocolVersion"))
}

fn tool_call(
    params: Option<&Map<String, Value>>,
    id: &Value,
) -> Result<(String, Map<String, Value>), Refusal> {
    let Some(Value::String(name)) = params.and_then(|p| p.get("name")) else {
        return Err(invalid_params(
            id,
            "tools/call needs params.name, the tool's name as a string; tools/list names them"
                .into(),
        ));
    };
    let arguments = match params.and_then(|p| p.get("arguments")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) => arguments.clone(),
        Some(_) => {
            return Err(invalid_params(
                id,
                format!(
                    "tools/call params.arguments must be an object of {name}'s arguments, e.g. \
                     {{\"x\": 10, \"y\": 20}}"
                ),
            ))
        }
    };
    Ok((name.clone(), arguments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(body: &str) -> Refusal {
        check(body.as_bytes(), false).unwrap_err()
    }

    #[test]
    fn envelopes_that_are_not_requests_are_invalid_requests() {
        assert_eq!(refused("{nope").code, -32700);
        assert_eq!(refused("NaN").code, -32700);
        assert!(refused("[]").message.contains("batches"));
        assert_eq!(refused("5").code, -32600);
        assert_eq!(refused(r#"{"id":1,"method":"tools/list"}"#).code, -32600);
        assert_eq!(
            refused(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#).code,
            -32600
        );
        for id in ["null", "true", "{}", "[1]"] {
            let r = refused(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#
            ));
            assert_eq!((r.code, r.bad_request), (-32600, true), "{id}");
        }
        for method in [r#""""#, r#"" ""#, "5"] {
            let r = refused(&format!(r#"{{"jsonrpc":"2.0","id":1,"method":{method}}}"#));
            assert!(r.message.contains("non-empty string"), "{method}");
        }
    }

    #[test]
    fn malformed_params_of_known_methods_are_invalid_params_with_the_id() {
        let call = |params: Value| {
            let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params});
            check(body.to_string().as_bytes(), false).unwrap_err()
        };
        for params in [
            json!({"name": "mouse_move", "arguments": [1, 2]}),
            json!({"name": "mouse_move", "arguments": "x=1"}),
            json!({"name": 5}),
            json!({"arguments": {}}),
            json!([1]),
        ] {
            let r = call(params.clone());
            assert_eq!(
                (r.code, r.id.clone(), r.bad_request),
                (-32602, json!(7), false),
                "{params}"
            );
        }
        let body =
            json!({"jsonrpc": "2.0", "id": "a", "method": "resources/read", "params": {"uri": 5}});
        assert_eq!(
            check(body.to_string().as_bytes(), false).unwrap_err().code,
            -32602
        );
        let body = json!({"jsonrpc": "2.0", "id": "a", "method": "initialize", "params": {}});
        assert_eq!(
            check(body.to_string().as_bytes(), false).unwrap_err().code,
            -32602
        );
        // From 2026-07-28 on, initialize does not exist: rmcp answers 404 Method not found.
        assert!(check(body.to_string().as_bytes(), true).is_ok());
    }

    #[test]
    fn good_messages_pass_with_what_the_gate_needs() {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "key_type", "arguments": {"text": "hi"}}});
        let e = check(body.to_string().as_bytes(), false).unwrap();
        let (name, arguments) = e.call.unwrap();
        assert_eq!(
            (name.as_str(), &arguments["text"]),
            ("key_type", &json!("hi"))
        );
        let e = check(
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            false,
        )
        .unwrap();
        assert!(e.id.is_none() && e.call.is_none());
        // A tools/call notification is not answered (and never run), whatever its params.
        let e = check(
            br#"{"jsonrpc":"2.0","method":"tools/call","params":5}"#,
            false,
        )
        .unwrap();
        assert!(e.id.is_none() && e.call.is_none());
        let e = check(
            br#"{"jsonrpc":"2.0","id":1.0,"method":"tools/list"}"#,
            false,
        )
        .unwrap();
        assert_eq!(e.id, Some(json!(1.0)));
    }
}
