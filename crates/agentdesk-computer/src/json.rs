//! Reading one call's arguments, with messages that name the call and the field.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::Error;

/// The longest wait or key hold a call may ask for (Anthropic's own bound).
pub(crate) const MAX_SECONDS: f64 = 300.0;

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

/// A call's arguments object.
pub(crate) struct Args<'a> {
    name: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    /// `value` must be an object; a missing (null) one is empty.
    pub(crate) fn new(name: &'a str, value: Option<&'a Value>) -> Result<Args<'a>, Error> {
        let map = match value {
            None | Some(Value::Null) => EMPTY.get_or_init(Map::new),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(Error::Call(format!(
                    "{name}: the arguments must be a JSON object"
                )))
            }
        };
        Ok(Args { name, map })
    }

    fn bad(&self, key: &str, want: &str) -> Error {
        Error::Call(format!("{}: `{key}` must be {want}", self.name))
    }

    fn missing(&self, key: &str, want: &str) -> Error {
        Error::Call(format!("{}: `{key}` is required ({want})", self.name))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An integer (an integral float too: some clients send 12.0).
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, Error> {
        self.get(key)
            .map(|v| as_int(v).ok_or_else(|| self.bad(key, "an integer")))
            .transpose()
    }

    pub(crate) fn req_int(&self, key: &str) -> Result<i64, Error> {
        self.int(key)?
            .ok_or_else(|| self.missing(key, "an integer"))
    }

    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, Error> {
        self.get(key)
            .map(|v| v.as_str().ok_or_else(|| self.bad(key, "a string")))
            .transpose()
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<&'a str, Error> {
        self.str(key)?.ok_or_else(|| self.missing(key, "a string"))
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, Error> {
        self.get(key)
            .map(|v| v.as_bool().ok_or_else(|| self.bad(key, "true or false")))
            .transpose()
    }

    /// `[x, y]`.
    pub(crate) fn pair(&self, key: &str) -> Result<Option<(i64, i64)>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let want = "[x, y], two integers";
        match v.as_array().map(Vec::as_slice) {
            Some([x, y]) => match (as_int(x), as_int(y)) {
                (Some(x), Some(y)) => Ok(Some((x, y))),
                _ => Err(self.bad(key, want)),
            },
            _ => Err(self.bad(key, want)),
        }
    }

    pub(crate) fn req_pair(&self, key: &str) -> Result<(i64, i64), Error> {
        self.pair(key)?.ok_or_else(|| self.missing(key, "[x, y]"))
    }

    /// `[a, b, c, d]`.
    pub(crate) fn quad(&self, key: &str) -> Result<Option<[i64; 4]>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let want = "[x0, y0, x1, y1], four integers";
        let items = v.as_array().ok_or_else(|| self.bad(key, want))?;
        let ints: Option<Vec<i64>> = items.iter().map(as_int).collect();
        match ints.as_deref() {
            Some(&[a, b, c, d]) => Ok(Some([a, b, c, d])),
            _ => Err(self.bad(key, want)),
        }
    }

    /// A list of strings.
    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<&'a str>>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let want = "a list of strings";
        let items = v.as_array().ok_or_else(|| self.bad(key, want))?;
        items
            .iter()
            .map(|i| i.as_str().ok_or_else(|| self.bad(key, want)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Seconds, at most [`MAX_SECONDS`].
    pub(crate) fn seconds(&self, key: &str) -> Result<Option<Duration>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let want = format!("a number of seconds from 0 to {MAX_SECONDS}");
        let s = v
            .as_f64()
            .filter(|s| (0.0..=MAX_SECONDS).contains(s))
            .ok_or_else(|| self.bad(key, &want))?;
        Ok(Some(Duration::from_secs_f64(s)))
    }
}

/// An integer, or a float with no fraction.
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    })
}

/// Modifier names joined with '+', whatever the vendor's separator: "ctrl+shift",
/// ["CTRL", "SHIFT"] or "Control+Shift".
pub(crate) fn join_keys(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect::<Vec<_>>()
        .join("+")
}
