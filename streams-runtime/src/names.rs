//! The rule for names that become (part of) Kafka topic names: topics, nodes and stores (store
//! names end up in changelog topics, node names in repartition topics).
//!
//! One source for the runtime and the macros: `streams-macros/src/names.rs` is a symbolic link to
//! this file, so `#[processor(name = ..)]` rejects at compile time exactly the names the runtime
//! rejects when it builds a topology. Both crates run the tests below against their own copy.
//! This file names nothing else in either crate.

/// The rule in words, for error messages.
pub(crate) const NAME_RULE: &str =
    "1 to 249 characters from ASCII letters, digits, '.', '_' and '-'";

/// Whether `name` is legal in a Kafka topic name.
pub(crate) fn is_legal_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names and whether they are legal: the table both crates check.
    fn cases() -> Vec<(String, bool)> {
        vec![
            ("orders".to_owned(), true),
            ("Orders.v2_eu-west-1".to_owned(), true),
            ("a".repeat(249), true),
            ("a".repeat(250), false),
            (String::new(), false),
            ("two words".to_owned(), false),
            ("slash/ed".to_owned(), false),
            ("colon:ed".to_owned(), false),
            ("größe".to_owned(), false),
            ("tab\tbed".to_owned(), false),
        ]
    }

    #[test]
    fn the_rule_holds() {
        for (name, legal) in cases() {
            assert_eq!(is_legal_name(&name), legal, "{name:?}");
        }
        assert!(NAME_RULE.contains("249"));
    }
}
