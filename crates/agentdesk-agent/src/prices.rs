//! What models cost, for the caps: US dollars per million tokens in and out.
//!
//! The table holds the public list prices of the models the built-in loop is meant for, as
//! of its writing; the operator (or an admin token) gives any other, and must for a model not
//! listed here when a dollar cap applies. Models on a chat endpoint are never listed: they
//! cost nothing when no cap applies, and need a price (zero for the operator's own server)
//! when one does.

use crate::{Model, Provider, Usage};

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Per million tokens read.
    pub input_per_mtok: f64,
    /// Per million tokens written.
    pub output_per_mtok: f64,
}

/// Model name prefixes and their prices, most specific first.
const LIST: &[(&str, Price)] = &[
    ("claude-opus-4-7", p(5.0, 25.0)),
    ("claude-opus-4-6", p(5.0, 25.0)),
    ("claude-opus-4-5", p(5.0, 25.0)),
    ("claude-opus-4-1", p(15.0, 75.0)),
    ("claude-opus-4", p(15.0, 75.0)),
    ("claude-sonnet-4", p(3.0, 15.0)),
    ("claude-haiku-4-5", p(1.0, 5.0)),
    ("computer-use-preview", p(3.0, 12.0)),
];

const fn p(input_per_mtok: f64, output_per_mtok: f64) -> Price {
    Price {
        input_per_mtok,
        output_per_mtok,
    }
}

impl Price {
    /// Free: a model on the operator's own server.
    pub const FREE: Price = p(0.0, 0.0);

    /// The listed price of `model`, if known. A chat model has none: it may be the operator's
    /// own free server, or a paid gateway behind `OPENAI_BASE_URL`; where a dollar cap applies,
    /// its price must be given.
    pub fn of(model: &Model) -> Option<Price> {
        if model.provider == Provider::Chat {
            return None;
        }
        LIST.iter()
            .find(|(prefix, _)| model.name.starts_with(prefix))
            .map(|(_, price)| *price)
    }

    /// Checks a price given by a caller.
    pub fn new(input_per_mtok: f64, output_per_mtok: f64) -> Result<Price, crate::Error> {
        let ok = |v: f64| v.is_finite() && (0.0..=10_000.0).contains(&v);
        if !ok(input_per_mtok) || !ok(output_per_mtok) {
            return Err(crate::Error::Model(
                "a price is dollars per million tokens, 0 to 10000, for input_per_mtok and \
                 output_per_mtok"
                    .into(),
            ));
        }
        Ok(p(input_per_mtok, output_per_mtok))
    }

    /// What `usage` cost, in dollars.
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_prices_and_costs() {
        let m = |s: &str| Model::parse(s).unwrap();
        let opus = Price::of(&m("anthropic:claude-opus-4-7")).unwrap();
        assert_eq!(opus.input_per_mtok, 5.0);
        assert_eq!(
            Price::of(&m("anthropic:claude-opus-4-20250514"))
                .unwrap()
                .input_per_mtok,
            15.0
        );
        assert!(Price::of(&m("anthropic:claude-unknown-9")).is_none());
        assert_eq!(Price::of(&m("chat:qwen")), None);
        let cost = opus.cost(Usage {
            input_tokens: 2_000_000,
            output_tokens: 100_000,
        });
        assert!((cost - 12.5).abs() < 1e-9);
        assert!(Price::new(-1.0, 1.0).is_err());
        assert!(Price::new(f64::NAN, 1.0).is_err());
    }
}
