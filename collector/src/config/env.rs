//! `${env:NAME}` substitution in the raw configuration text, before YAML parsing.
//!
//! The syntax is the OpenTelemetry Collector's: `${env:NAME}` is replaced by the variable's value,
//! `${env:NAME:-default}` by the default when the variable is unset or empty (as in a POSIX
//! shell), and `$${` stands for a literal `${`. Names follow the shell's rule,
//! `[A-Za-z_][A-Za-z0-9_]*`. A variable that is unset, with no default, is an error that names
//! it: silently substituting an empty string would turn a typo into a listener on a surprise
//! address.
//!
//! Substituting the text rather than parsed values lets a variable fill any scalar, a number or
//! a duration as well as a string, and keeps serde_yaml's line numbers true for the rest of the
//! file. Two guards make that safe. YAML comments are copied untouched, so a commented-out
//! `${env:OLD_VAR}` neither fails nor needs escaping (the bug that made Vector move its
//! interpolation after parsing). And a value containing a line break is refused, so a variable
//! can only ever fill in a scalar, never inject keys. Other `${...}` forms (`${file:...}`, bare
//! `${VAR}`) are errors rather than left as text, since no key here could want one literally.
//!
//! Comment detection follows YAML's rule (`#` at the start of a line or after whitespace, outside
//! a quoted scalar) with one simplification: block scalars (`|`, `>`) are not tracked, which is
//! harmless because no key in this schema takes free text.

use super::Error;

/// Replaces every `${env:...}` outside comments, looking names up with `lookup`.
pub(super) fn substitute(
    text: &str,
    origin: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Error> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // Everything in `text[copied..i]` is still to be copied to `out` verbatim. All the bytes this
    // scanner stops at are ASCII, so every slice boundary is a char boundary.
    let mut copied = 0;
    let mut i = 0;
    let mut line = 1;
    let mut quote: Option<u8> = None;

    while i < bytes.len() {
        let b = bytes[i];
        let after_space = i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r');
        match (quote, b) {
            (_, b'\n') => {
                line += 1;
                i += 1;
            }
            (None, b'#') if after_space => {
                // A comment runs to the end of the line and is kept as written.
                i = memchr_newline(bytes, i);
            }
            (None, b'\'' | b'"') if after_space || matches!(bytes[i - 1], b'[' | b'{' | b',') => {
                quote = Some(b);
                i += 1;
            }
            (Some(b'"'), b'\\') => {
                // Skip the escaped character, which may be a line break.
                if bytes.get(i + 1) == Some(&b'\n') {
                    line += 1;
                }
                i += 2;
            }
            (Some(b'\''), b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            (Some(q), _) if b == q => {
                quote = None;
                i += 1;
            }
            (_, b'$') if text[i..].starts_with("$${") => {
                out.push_str(&text[copied..i]);
                out.push_str("${");
                i += 3;
                copied = i;
            }
            (_, b'$') if text[i..].starts_with("${") => {
                out.push_str(&text[copied..i]);
                let (value, len) = expand(&text[i..], origin, line, lookup)?;
                out.push_str(&value);
                i += len;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

/// Index of the next `\n` at or after `from`, or the end of the text.
fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

/// Expands the reference at the start of `text` (which starts with `${`); returns the value and
/// the length of the reference.
fn expand(
    text: &str,
    origin: &str,
    line: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), Error> {
    let end = text
        .find(['}', '\n'])
        .filter(|&end| text.as_bytes()[end] == b'}')
        .ok_or_else(|| Error::UnterminatedSubstitution {
            origin: origin.to_owned(),
            line,
            text: text.lines().next().unwrap_or_default().to_owned(),
        })?;
    let reference = &text[..=end];
    let unsupported = || Error::UnsupportedSubstitution {
        origin: origin.to_owned(),
        line,
        text: reference.to_owned(),
    };
    let body = text[2..end].strip_prefix("env:").ok_or_else(unsupported)?;
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (body, None),
    };
    if !is_env_name(name) {
        return Err(unsupported());
    }
    let value = match (lookup(name), default) {
        (Some(value), Some(default)) if value.is_empty() => default.to_owned(),
        (Some(value), _) => value,
        (None, Some(default)) => default.to_owned(),
        (None, None) => {
            return Err(Error::MissingEnvVar {
                origin: origin.to_owned(),
                line,
                name: name.to_owned(),
            });
        }
    };
    if value.contains(['\n', '\r']) {
        return Err(Error::MultilineEnvVar {
            origin: origin.to_owned(),
            line,
            name: name.to_owned(),
        });
    }
    Ok((value, reference.len()))
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb: c".into()),
            "HASH" => Some("x#y".into()),
            _ => None,
        }
    }

    fn sub(text: &str) -> Result<String, Error> {
        substitute(text, "test.yaml", &env)
    }

    #[test]
    fn replaces_references_and_leaves_other_text_alone() {
        let cases = [
            ("a: ${env:PORT}", "a: 4317"),
            ("a: 127.0.0.1:${env:PORT}", "a: 127.0.0.1:4317"),
            ("a: \"${env:PORT}\"", "a: \"4317\""),
            ("a: '${env:PORT}'", "a: '4317'"),
            ("a: ${env:PORT}${env:PORT}", "a: 43174317"),
            ("a: ${env:HASH}", "a: x#y"),
            ("a: ${env:UNSET:-5m}", "a: 5m"),
            ("a: ${env:EMPTY:-5m}", "a: 5m"),
            ("a: ${env:PORT:-1}", "a: 4317"),
            ("a: ${env:UNSET:-}", "a: "),
            ("a: ${env:EMPTY}", "a: "),
            ("a: ${env:UNSET:-host:1}", "a: host:1"),
            ("a: $${env:PORT}", "a: ${env:PORT}"),
            ("a: $$${env:PORT}", "a: $${env:PORT}"),
            ("a: $5 and $ and $$", "a: $5 and $ and $$"),
            ("a: héllo ${env:PORT} ü", "a: héllo 4317 ü"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(
                sub(input).as_deref().map_err(|e| e.to_string()),
                Ok(want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn leaves_comments_untouched() {
        let cases = [
            "# ${env:UNSET}\na: 1",
            "a: 1 # ${env:UNSET}",
            "a: 1\t# ${file:x} ${oops",
            "  # endpoint: ${env:NOPE}",
            "a: 'it''s # fine' # ${env:UNSET}",
            "a: \"q\\\" # still quoted\" # ${env:UNSET}",
        ];
        for input in cases {
            assert_eq!(
                sub(input).as_deref().map_err(|e| e.to_string()),
                Ok(input),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn substitutes_after_a_hash_that_is_not_a_comment() {
        assert_eq!(sub("a: x#${env:PORT}").unwrap(), "a: x#4317");
        assert_eq!(sub("a: \"# ${env:PORT}\"").unwrap(), "a: \"# 4317\"");
        assert_eq!(sub("a: ['#', ${env:PORT}]").unwrap(), "a: ['#', 4317]");
    }

    #[test]
    fn missing_variable_is_an_error_naming_it_and_the_line() {
        let err = sub("a: 1\nb: ${env:VIGIL_NOT_SET}\n").unwrap_err();
        assert!(
            matches!(&err, Error::MissingEnvVar { origin, line: 2, name }
                if origin == "test.yaml" && name == "VIGIL_NOT_SET"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "test.yaml:2: environment variable VIGIL_NOT_SET is not set \
             (write ${env:VIGIL_NOT_SET:-DEFAULT} to give a default)"
        );
    }

    #[test]
    fn refuses_a_value_with_a_line_break() {
        let err = sub("a: ${env:MULTI}").unwrap_err();
        assert!(
            matches!(&err, Error::MultilineEnvVar { line: 1, name, .. } if name == "MULTI"),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_references_it_does_not_understand() {
        for input in [
            "a: ${PORT}",
            "a: ${file:/etc/x}",
            "a: ${env:}",
            "a: ${env:1X}",
            "a: ${env:A-B}",
        ] {
            let err = sub(input).unwrap_err();
            let want = &input[3..];
            assert!(
                matches!(&err, Error::UnsupportedSubstitution { line: 1, text, .. } if text == want),
                "input {input:?}: {err:?}"
            );
        }
    }

    #[test]
    fn rejects_an_unterminated_reference() {
        for input in ["a: ${env:PORT", "a: ${env:PORT\nb: }"] {
            let err = sub(input).unwrap_err();
            assert!(
                matches!(&err, Error::UnterminatedSubstitution { line: 1, .. }),
                "input {input:?}: {err:?}"
            );
        }
    }
}
