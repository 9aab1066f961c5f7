//! JSON schemas for tool arguments, made portable.
//!
//! schemars' defaults are adjusted because real clients trip on them (MCP Inspector's `--strict`
//! lint in tests/conformance checks the result):
//! integer `format`s such as "int64" are not standard JSON Schema (TypeScript clients warn),
//! and `$ref`s into `$defs` are resolved inconsistently, so subschemas are inlined.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The input schema of a tool whose arguments are `T`.
pub fn input_schema<T: JsonSchema>() -> Map<String, Value> {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    clean(&mut value);
    match value {
        Value::Object(mut map) => {
            map.remove("$schema");
            map.remove("title");
            map.entry("type")
                .or_insert_with(|| Value::String("object".into()));
            map.entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            map
        }
        _ => Map::new(),
    }
}

fn clean(value: &mut Value) {
    match value {
        Value::Object(map) => {
            split_nullable(map);
            let is_integer = match map.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            if is_integer {
                map.remove("format");
                map.remove("minimum");
                map.remove("maximum");
            }
            map.remove("$defs");
            for v in map.values_mut() {
                clean(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        _ => {}
    }
}

/// `{"type": ["object", "null"], ...}` becomes `{"anyOf": [{"type": "object", ...}, {"type":
/// "null"}]}`: the same contract (as GhostDesk's pydantic schema spells it), but portable to
/// clients that map schemas onto a single-`type` dialect, such as Gemini's function
/// declarations (MCP Inspector's `--strict` lint flags the array form).
fn split_nullable(map: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = map.get("type") else {
        return;
    };
    let [a, b] = types.as_slice() else { return };
    let other = match (a.as_str(), b.as_str()) {
        (Some("null"), Some(t)) | (Some(t), Some("null")) => t.to_string(),
        _ => return,
    };
    // What describes the property stays outside; what describes the value goes in the branch.
    let mut branch = Map::new();
    for key in map.keys().cloned().collect::<Vec<_>>() {
        if !["description", "default", "title"].contains(&key.as_str()) {
            if let Some(v) = map.remove(&key) {
                branch.insert(key, v);
            }
        }
    }
    branch.insert("type".into(), Value::String(other));
    map.insert(
        "anyOf".into(),
        Value::Array(vec![
            Value::Object(branch),
            serde_json::json!({"type": "null"}),
        ]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    #[test]
    fn schemas_are_portable() {
        for (name, schema) in [
            ("screen_shot", input_schema::<ScreenShotArgs>()),
            ("mouse_click", input_schema::<ClickArgs>()),
            ("mouse_scroll", input_schema::<ScrollArgs>()),
            ("app_status", input_schema::<StatusArgs>()),
            ("clipboard_get", input_schema::<NoArgs>()),
        ] {
            let text = serde_json::to_string(&schema).unwrap();
            assert!(!text.contains("\"format\":\""), "{name}: {text}");
            assert!(!text.contains("$ref"), "{name}: {text}");
            assert_eq!(schema["type"], "object", "{name}");
            assert_eq!(schema["additionalProperties"], false, "{name}: {text}");
            assert!(!text.contains("\"type\":["), "{name}: a type array: {text}");
        }
    }

    #[test]
    fn ghostdesk_defaults_and_enums_are_in_the_schema() {
        let shot = serde_json::to_value(input_schema::<ScreenShotArgs>()).unwrap();
        assert_eq!(shot["properties"]["stabilize"]["default"], true);
        let region = &shot["properties"]["region"];
        assert_eq!(region["anyOf"][0]["type"], "object");
        assert_eq!(
            region["anyOf"][0]["required"],
            serde_json::json!(["x", "y", "width", "height"])
        );
        assert_eq!(region["anyOf"][1]["type"], "null");
        assert!(region["description"].is_string());
        let formats = serde_json::to_string(&shot["properties"]["format"]).unwrap();
        assert!(
            formats.contains("webp") && formats.contains("png"),
            "{formats}"
        );
        let click = serde_json::to_value(input_schema::<ClickArgs>()).unwrap();
        assert_eq!(click["required"], serde_json::json!(["x", "y"]));
        let scroll = serde_json::to_value(input_schema::<ScrollArgs>()).unwrap();
        assert_eq!(scroll["properties"]["amount"]["default"], 3);
    }

    #[test]
    fn arguments_are_lenient_like_pydantic_and_strict_about_names() {
        let a: ClickArgs =
            serde_json::from_value(serde_json::json!({"x": "12", "y": 30.0})).unwrap();
        assert_eq!((a.x, a.y, a.button), (12, 30, MouseButton::Left));
        assert!(
            serde_json::from_value::<ClickArgs>(serde_json::json!({"x": 1.5, "y": 1})).is_err()
        );
        assert!(
            serde_json::from_value::<ClickArgs>(serde_json::json!({"x": 1, "y": 1, "z": 1}))
                .is_err()
        );
        assert!(serde_json::from_value::<NoArgs>(serde_json::json!({"extra": 1})).is_err());
        let s: ScreenShotArgs =
            serde_json::from_value(serde_json::json!({"stabilize": "false"})).unwrap();
        assert!(!s.stabilize);
        let s: ScreenShotArgs = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(s.stabilize && s.region.is_none() && s.format == ImageFormat::Webp);
    }

    #[test]
    fn feedback_text_is_ghostdesks_json() {
        let text = to_json_text(&Feedback {
            action: "Typed 5 characters".into(),
            screen_changed: true,
            reaction_time_ms: 12,
        });
        assert_eq!(
            text,
            "{\n  \"action\": \"Typed 5 characters\",\n  \"screen_changed\": true,\n  \"reaction_time_ms\": 12\n}"
        );
    }
}
