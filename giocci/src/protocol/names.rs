//! Names and prefixes become chunks of Zenoh key expressions, so they must
//! never carry wildcards, separators or other characters Zenoh treats
//! specially.

/// Longest accepted name or key prefix, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Why a name or key prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}; {reason}")]
pub struct NameError {
    /// What the value names: `client name`, `relay name`, `key prefix`...
    pub kind: &'static str,
    /// The refused value.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Checks that `value` can serve as one key chunk: 1 to 128 bytes of ASCII
/// letters, digits, `-`, `_` and `.`.
///
/// `kind` names what the value is in the error message.
pub fn validate_name(kind: &'static str, value: &str) -> Result<(), NameError> {
    let refuse = |reason| {
        Err(NameError {
            kind,
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return refuse("it is empty");
    }
    if value.len() > MAX_NAME_BYTES {
        return refuse("it is longer than 128 bytes");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return refuse("only ASCII letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

/// Checks a key prefix: one or more names joined by `/`, such as `lab/edge-1`.
pub fn validate_key_prefix(value: &str) -> Result<(), NameError> {
    const KIND: &str = "key prefix";
    if value.len() > MAX_NAME_BYTES {
        return Err(NameError {
            kind: KIND,
            value: value.to_owned(),
            reason: "it is longer than 128 bytes",
        });
    }
    for chunk in value.split('/') {
        validate_name(KIND, chunk).map_err(|err| NameError {
            value: value.to_owned(),
            reason: if chunk.is_empty() {
                "it has an empty chunk"
            } else {
                err.reason
            },
            ..err
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        for name in ["relay", "engine-1", "client_a.b", "A9"] {
            validate_name("client name", name).unwrap();
        }
        validate_key_prefix("lab/edge-1").unwrap();
    }

    #[test]
    fn key_expression_syntax_is_refused() {
        for name in ["", "*", "**", "a/b", "a b", "$*", "a?b", "a#b", "é"] {
            assert!(validate_name("relay name", name).is_err(), "{name:?}");
        }
        let err = validate_name("relay name", "a/*").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid relay name \"a/*\"; only ASCII letters, digits, '-', '_' and '.' are allowed"
        );
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for prefix in ["", "/a", "a/", "a//b", "a/**", "a/$*"] {
            assert!(validate_key_prefix(prefix).is_err(), "{prefix:?}");
        }
        let err = validate_key_prefix("a//b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key prefix \"a//b\"; it has an empty chunk"
        );
    }
}
