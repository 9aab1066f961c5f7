//! The JSON-RPC envelope of a POSTed message, checked before rmcp sees it.
//!
//! rmcp answers some malformed messages unhelpfully: `tools/call` with `arguments` that are not
//! an object, or without a `name`, becomes -32601 "Method not found" with the method as the
//! whole message; invalid JSON becomes HTTP 415. Agents read these answers, so the gate refuses
//! such messages itself, with the JSON-RPC error the specification names and a message that
//! says what to send instead. Everything else about the message is rmcp's business.
//!
//! The check allocates next to nothing, whatever the body holds: the message is read as raw
//! JSON text ([`RawValue`]) borrowed from the body, and a call's arguments are only measured,
//! never built. That matters because rmcp then builds them as `serde_json::Value`s, which cost
//! up to 16 times the text they come from (`[0,0,0,…]` is 2 bytes of JSON and 32 of `Value`
//! per element): arguments with more values or deeper nesting than any tool takes are refused
//! here, as a tool error, before anything is built.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// A call's arguments may hold at most this many JSON values (every object, array, string,
/// number, boolean and null counts one). The richest tool takes a handful.
pub(crate) const MAX_ARGUMENT_VALUES: usize = 1000;
/// Arguments may nest at most this deep (the arguments object itself is depth 1).
pub(crate) const MAX_ARGUMENT_DEPTH: usize = 16;
/// A whole message may hold at most this many values, this deep: room for the largest
/// arguments and what MCP puts around them (`_meta`, capabilities, client information), and
/// nothing like what a few megabytes of `[0,0,…]` anywhere else would cost once built.
pub(crate) const MAX_MESSAGE_VALUES: usize = 4 * MAX_ARGUMENT_VALUES;
pub(crate) const MAX_MESSAGE_DEPTH: usize = 32;

/// What the gate needs from a well-formed message.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    /// The id, for a request.
    pub(crate) id: Option<Value>,
    /// A call that counts against the rate limit and is audited.
    pub(crate) call: Option<CallKind>,
    /// The request speaks protocol 2026-07-28 or later (its header or its `_meta` says so),
    /// whose results carry `resultType`.
    pub(crate) modern: bool,
}

/// The kinds of request the rate limit counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// `tools/call` of the named tool.
    Tool(String),
    /// `resources/read`.
    Resource,
}

impl CallKind {
    /// The name the audit log records the call under.
    pub(crate) fn name(&self) -> &str {
        match self {
            CallKind::Tool(name) => name,
            CallKind::Resource => crate::mcp::RESOURCE_READ,
        }
    }
}

/// A refusal, and how to answer it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) id: Value,
    pub(crate) message: String,
    pub(crate) kind: RefusalKind,
    /// As [`Envelope::modern`].
    pub(crate) modern: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// A JSON-RPC error with this code; `bad_request` when the message is not a usable
    /// JSON-RPC request at all (HTTP 400), else it is answered with 200.
    Error { code: i64, bad_request: bool },
    /// A tool call whose arguments no tool takes: answered, like any argument mistake, with a
    /// tool error (a result with `isError`) that the model reads.
    Tool { name: String },
}

impl Refusal {
    /// The JSON-RPC message that answers the refused request.
    pub(crate) fn answer(&self) -> Value {
        match &self.kind {
            RefusalKind::Error { code, .. } => error_message(&self.id, *code, &self.message),
            RefusalKind::Tool { .. } => tool_error_message(&self.id, &self.message, self.modern),
        }
    }

    /// Whether the HTTP answer is 400 rather than 200.
    pub(crate) fn bad_request(&self) -> bool {
        matches!(
            self.kind,
            RefusalKind::Error {
                bad_request: true,
                ..
            }
        )
    }
}

/// A JSON-RPC error response.
pub(crate) fn error_message(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A JSON-RPC response carrying a tool error: a `tools/call` result with one text block and
/// `isError`, the shape every MCP client hands to the model rather than raising. From protocol
/// 2026-07-28 on (`modern`), a result names its type: the SDKs reject one without it.
pub(crate) fn tool_error_message(id: &Value, text: &str, modern: bool) -> Value {
    let mut result = json!({"content": [{"type": "text", "text": text}], "isError": true});
    if modern {
        result["resultType"] = json!("complete");
    }
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn invalid_request(message: &str) -> Refusal {
    Refusal {
        id: Value::Null,
        message: message.to_string(),
        kind: RefusalKind::Error {
            code: -32600,
            bad_request: true,
        },
        modern: false,
    }
}

fn parse_error(message: String) -> Refusal {
    Refusal {
        id: Value::Null,
        message,
        kind: RefusalKind::Error {
            code: -32700,
            bad_request: true,
        },
        modern: false,
    }
}

fn invalid_params(id: &Value, message: String) -> Refusal {
    Refusal {
        id: id.clone(),
        message,
        kind: RefusalKind::Error {
            code: -32602,
            bad_request: false,
        },
        modern: false,
    }
}

/// A field that is present, even as `null` (serde's `Option` would read `null` as absent, and
/// `"id": null` is a mistake to name, not a notification).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The top-level members the gate looks at; others are skipped without being built.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

/// The members of `tools/call` and `resources/read` params the gate looks at.
#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    name: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    arguments: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    uri: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    #[serde(rename = "protocolVersion")]
    protocol_version: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    #[serde(rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// The JSON type of raw JSON text, from its first character.
fn first_byte(raw: &RawValue) -> u8 {
    raw.get().trim_start().bytes().next().unwrap_or(b' ')
}

/// A raw JSON string's value; `None` if it is not a string.
fn string<'a>(raw: &'a RawValue) -> Option<Cow<'a, str>> {
    if first_byte(raw) != b'"' {
        return None;
    }
    serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
}

fn not_json(e: &dyn std::fmt::Display) -> Refusal {
    parse_error(format!(
        "the body is not valid JSON ({e}); send one JSON-RPC request object"
    ))
}

/// Checks a POST body (or a stdio line). `modern` says the request names protocol 2026-07-28
/// or later in its headers, where `initialize` no longer exists and rmcp's 404 is the answer.
pub(crate) fn check(body: &[u8], modern: bool) -> Result<Envelope, Refusal> {
    let text = std::str::from_utf8(body).map_err(|e| not_json(&e))?;
    // Validates the whole text without building anything.
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| not_json(&e))?;
    let envelope = check_members(raw, modern)?;
    // Whatever the method (notifications and responses included), no member may hold more than
    // rmcp should build.
    measure(raw, MAX_MESSAGE_VALUES, MAX_MESSAGE_DEPTH).map_err(|problem| {
        let mut refusal = invalid_request(&format!(
            "the message's members are refused: {problem}; no MCP message needs that many"
        ));
        refusal.id = envelope.id.clone().unwrap_or(Value::Null);
        refusal
    })?;
    Ok(envelope)
}

/// [`check`]'s look at each member the gate cares about.
fn check_members(raw: &RawValue, modern: bool) -> Result<Envelope, Refusal> {
    match first_byte(raw) {
        b'{' => {}
        b'[' => {
            return Err(invalid_request(
                "JSON-RPC batches are not supported (MCP removed them in 2025-06-18); send one \
                 request per POST",
            ))
        }
        _ => return Err(invalid_request("a JSON-RPC message must be an object")),
    }
    let message: Message<'_> = serde_json::from_str(raw.get()).map_err(|e| {
        // The text is valid JSON and an object: what fails here is a repeated member.
        invalid_request(&format!("{e}; send each member of the message once"))
    })?;
    if message.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
        return Err(invalid_request(
            "a JSON-RPC message needs \"jsonrpc\": \"2.0\"",
        ));
    }
    let id = match message.id {
        None => None,
        Some(raw) if matches!(first_byte(raw), b'"' | b'-' | b'0'..=b'9') => {
            Some(serde_json::from_str::<Value>(raw.get()).map_err(|e| not_json(&e))?)
        }
        Some(_) => {
            return Err(invalid_request(
                "a request's id must be a string or an integer (MCP forbids null)",
            ))
        }
    };
    let method = match message.method {
        None => None,
        Some(raw) => match string(raw) {
            Some(m) if !m.trim().is_empty() => Some(m),
            _ => {
                return Err(invalid_request(
                    "\"method\" must be a non-empty string, e.g. \"tools/call\"",
                ))
            }
        },
    };
    let Some(name) = method.as_deref() else {
        // A response to a server request (none are sent in stateless mode): rmcp's business.
        return Ok(Envelope {
            id,
            call: None,
            modern,
        });
    };
    let Some(id_or_null) = id.clone() else {
        // A notification gets no answer, not even an error: rmcp accepts and drops it.
        return Ok(Envelope {
            id,
            call: None,
            modern,
        });
    };
    let params = match message.params {
        None => None,
        Some(raw) if first_byte(raw) == b'{' => Some(
            serde_json::from_str::<CallParams<'_>>(raw.get()).map_err(|e| {
                invalid_params(
                    &id_or_null,
                    format!("{name}: {e}; send each member of params once"),
                )
            })?,
        ),
        Some(_) => {
            return Err(invalid_params(
                &id_or_null,
                format!("{name}: \"params\" must be an object"),
            ))
        }
    };
    let modern = modern || names_modern_version(params.as_ref());
    let call = match name {
        "tools/call" => Some(tool_call(params.as_ref(), &id_or_null, modern)?),
        "resources/read" => {
            if params
                .as_ref()
                .and_then(|p| p.uri)
                .is_none_or(|u| first_byte(u) != b'"')
            {
                return Err(invalid_params(
                    &id_or_null,
                    "resources/read needs params.uri, a string such as \"ghostdesk://apps\"; \
                     resources/list names them"
                        .into(),
                ));
            }
            Some(CallKind::Resource)
        }
        "initialize" if !modern => {
            let version = params.as_ref().and_then(|p| p.protocol_version);
            if version.is_none_or(|v| first_byte(v) != b'"') {
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
    Ok(Envelope { id, call, modern })
}

/// Whether `params._meta` carries the 2026-07-28 per-request protocol version.
fn names_modern_version(params: Option<&CallParams<'_>>) -> bool {
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, default, deserialize_with = "present")]
        #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
        version: Option<&'a RawValue>,
    }
    params
        .and_then(|p| p.meta)
        .filter(|m| first_byte(m) == b'{')
        .and_then(|m| serde_json::from_str::<Meta<'_>>(m.get()).ok())
        .is_some_and(|m| m.version.is_some())
}

fn tool_call(
    params: Option<&CallParams<'_>>,
    id: &Value,
    modern: bool,
) -> Result<CallKind, Refusal> {
    let Some(name) = params.and_then(|p| p.name).and_then(string) else {
        return Err(invalid_params(
            id,
            "tools/call needs params.name, the tool's name as a string; tools/list names them"
                .into(),
        ));
    };
    match params.and_then(|p| p.arguments) {
        None => {}
        Some(raw) if raw.get().trim() == "null" => {}
        Some(raw) if first_byte(raw) == b'{' => {
            if let Err(problem) = measure(raw, MAX_ARGUMENT_VALUES, MAX_ARGUMENT_DEPTH) {
                return Err(Refusal {
                    id: id.clone(),
                    message: format!(
                        "invalid arguments for {}: {problem}; a tool's arguments are a few \
                         numbers and strings (tools/list has its schema)",
                        crate::audit::cut(&name)
                    ),
                    kind: RefusalKind::Tool {
                        name: name.into_owned(),
                    },
                    modern,
                });
            }
        }
        Some(_) => {
            return Err(invalid_params(
                id,
                format!(
                    "tools/call params.arguments must be an object of {name}'s arguments, e.g. \
                     {{\"x\": 10, \"y\": 20}}"
                ),
            ))
        }
    }
    Ok(CallKind::Tool(name.into_owned()))
}

/// Counts the values of raw JSON and their depth, building nothing; says which bound (at most
/// `values`, at most `depth` levels) they exceed.
fn measure(raw: &RawValue, values: usize, depth: usize) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let mut budget = Budget {
        left: values,
        values,
        max_depth: depth,
    };
    Counter {
        budget: &mut budget,
        depth: 1,
    }
    .deserialize(&mut de)
    .map_err(|e| {
        let e = e.to_string();
        // serde_json appends " at line L column C": not the agent's concern.
        e.split(" at line ").next().unwrap_or(&e).to_string()
    })
}

/// What [`measure`] allows, and how much of it is left.
struct Budget {
    left: usize,
    values: usize,
    max_depth: usize,
}

/// A visitor that counts values against a [`Budget`] and refuses nesting beyond its bound.
struct Counter<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl Counter<'_> {
    fn take<E: de::Error>(&mut self) -> Result<(), E> {
        if self.budget.left == 0 {
            return Err(E::custom(format!(
                "they hold more than {} values",
                self.budget.values
            )));
        }
        self.budget.left -= 1;
        Ok(())
    }

    fn nested<E: de::Error>(&mut self) -> Result<Counter<'_>, E> {
        if self.depth >= self.budget.max_depth {
            return Err(E::custom(format!(
                "they nest more than {} levels deep",
                self.budget.max_depth
            )));
        }
        Ok(Counter {
            budget: self.budget,
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.take()
    }
    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        self.take()
    }
    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        self.take()
    }
    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.take()
    }
    fn visit_str<E: de::Error>(mut self, _: &str) -> Result<(), E> {
        self.take()
    }
    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.take()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.take()?;
        while seq.next_element_seed(self.nested()?)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.take()?;
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value_seed(self.nested()?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(body: &str) -> Refusal {
        check(body.as_bytes(), false).unwrap_err()
    }

    fn code(r: &Refusal) -> i64 {
        match r.kind {
            RefusalKind::Error { code, .. } => code,
            RefusalKind::Tool { .. } => 0,
        }
    }

    #[test]
    fn envelopes_that_are_not_requests_are_invalid_requests() {
        assert_eq!(code(&refused("{nope")), -32700);
        assert_eq!(code(&refused("NaN")), -32700);
        assert_eq!(code(&refused("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[")), -32700);
        assert_eq!(code(&refused("\u{ff}")), -32700);
        assert!(refused("[]").message.contains("batches"));
        assert_eq!(code(&refused("5")), -32600);
        assert_eq!(code(&refused(r#"{"id":1,"method":"tools/list"}"#)), -32600);
        assert_eq!(
            code(&refused(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#)),
            -32600
        );
        for id in ["null", "true", "{}", "[1]"] {
            let r = refused(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#
            ));
            assert_eq!((code(&r), r.bad_request()), (-32600, true), "{id}");
        }
        for method in [r#""""#, r#"" ""#, "5", "null"] {
            let r = refused(&format!(r#"{{"jsonrpc":"2.0","id":1,"method":{method}}}"#));
            assert!(r.message.contains("non-empty string"), "{method}");
        }
        let r = refused(r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}"#);
        assert!(r.message.contains("duplicate field"), "{}", r.message);
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
                (code(&r), r.id.clone(), r.bad_request()),
                (-32602, json!(7), false),
                "{params}"
            );
        }
        let body =
            json!({"jsonrpc": "2.0", "id": "a", "method": "resources/read", "params": {"uri": 5}});
        assert_eq!(
            code(&check(body.to_string().as_bytes(), false).unwrap_err()),
            -32602
        );
        let body = json!({"jsonrpc": "2.0", "id": "a", "method": "initialize", "params": {}});
        assert_eq!(
            code(&check(body.to_string().as_bytes(), false).unwrap_err()),
            -32602
        );
        // From 2026-07-28 on, initialize does not exist: rmcp answers 404 Method not found.
        assert!(check(body.to_string().as_bytes(), true).is_ok());
        let body = json!({"jsonrpc": "2.0", "id": "a", "method": "initialize",
                          "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
        assert!(check(body.to_string().as_bytes(), false).is_ok());
    }

    #[test]
    fn good_messages_pass_with_what_the_gate_needs() {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "key_type", "arguments": {"text": "hi"}}});
        let e = check(body.to_string().as_bytes(), false).unwrap();
        assert_eq!(e.call, Some(CallKind::Tool("key_type".into())));
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "app_list", "arguments": null}});
        assert!(check(body.to_string().as_bytes(), false).is_ok());
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read",
                          "params": {"uri": "ghostdesk://apps"}});
        let e = check(body.to_string().as_bytes(), false).unwrap();
        assert_eq!(e.call, Some(CallKind::Resource));
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

    fn arguments_refusal(arguments: &str) -> Option<String> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"mouse_move","arguments":{arguments}}}}}"#
        );
        match check(body.as_bytes(), false) {
            Ok(_) => None,
            Err(r) => {
                assert_eq!(
                    r.kind,
                    RefusalKind::Tool {
                        name: "mouse_move".into()
                    }
                );
                assert_eq!(r.answer()["result"]["isError"], true);
                assert_eq!(r.answer()["id"], 3);
                assert!(r.answer()["result"].get("resultType").is_none());
                Some(r.message)
            }
        }
    }

    #[test]
    fn no_member_of_any_message_may_hold_more_than_rmcp_should_build() {
        let zeros = format!("[{}0]", "0,".repeat(100_000));
        for body in [
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"_meta":{zeros}}}}}"#
            ),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x/unknown","params":{{"a":{zeros}}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","method":"notifications/x","params":{{"a":{zeros}}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"result":{zeros}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","extra":{zeros}}}"#),
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"m","arguments":{{}},"_meta":{zeros}}}}}"#
            ),
        ] {
            let r = check(body.as_bytes(), false).unwrap_err();
            assert_eq!(code(&r), -32600, "{}", &body[..60]);
            assert!(r.message.contains("more than 4000 values"), "{}", r.message);
        }
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"a":{}1{}}}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert!(check(deep.as_bytes(), false)
            .unwrap_err()
            .message
            .contains("32 levels"));
    }

    #[test]
    fn a_modern_requests_tool_error_names_its_result_type() {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "mouse_move", "arguments": {"a": vec![0; 2000]},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
        let r = check(body.to_string().as_bytes(), false).unwrap_err();
        assert_eq!(r.answer()["result"]["resultType"], "complete");
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "mouse_move", "arguments": {"a": vec![0; 2000]}}});
        let r = check(body.to_string().as_bytes(), true).unwrap_err();
        assert_eq!(r.answer()["result"]["resultType"], "complete");
        let e = check(body.to_string().as_bytes(), false);
        assert!(e.is_err_and(|r| r.answer()["result"].get("resultType").is_none()));
    }

    #[test]
    fn arguments_no_tool_takes_are_refused_before_anything_is_built() {
        // A few megabytes of zeros would be hundreds of megabytes of `Value`s.
        let zeros = format!(r#"{{"a":[{}0]}}"#, "0,".repeat(4 << 20));
        let message = arguments_refusal(&zeros).unwrap();
        assert!(message.contains("more than 1000 values"), "{message}");
        assert!(
            message.starts_with("invalid arguments for mouse_move: "),
            "{message}"
        );
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(20), "]".repeat(20));
        assert!(arguments_refusal(&deep).unwrap().contains("16 levels"));
        let keys: Vec<String> = (0..2000).map(|i| format!(r#""k{i}":1"#)).collect();
        assert!(arguments_refusal(&format!("{{{}}}", keys.join(","))).is_some());
        // Real arguments, long strings included, pass.
        assert_eq!(arguments_refusal(r#"{"x": 10, "y": 20}"#), None);
        let long = format!(r#"{{"text": "{}", "secret": true}}"#, "é".repeat(100_000));
        assert_eq!(arguments_refusal(&long), None);
        let at_bound: Vec<String> = (0..MAX_ARGUMENT_VALUES - 1)
            .map(|i| format!(r#""k{i}":1"#))
            .collect();
        assert_eq!(
            arguments_refusal(&format!("{{{}}}", at_bound.join(","))),
            None
        );
    }
}
