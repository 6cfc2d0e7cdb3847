//! Finding one top-level member of a JSON object without decoding the others.
//!
//! `member` walks the top level of an object and skips every other value by its structure
//! only: strings are jumped over with `memchr` (quote or backslash), nested objects and arrays
//! by counting brackets, without recursion. It is linear in the input, allocates nothing, and
//! validates nothing but the structure it walks (the member it returns is then decoded
//! properly by the caller). Malformed input yields `None`.

/// Whether `data` mentions a `"usage"` key anywhere: the cheap test run on every stream
/// event before any decoding (one prebuilt substring finder, not one built per call).
pub fn mentions_usage(data: &[u8]) -> bool {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"usage\""));
    FINDER.find(data).is_some()
}

/// The raw value of the top-level member `key` of the object in `json`.
pub fn member<'a>(json: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(json, i + 1);
    if json.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(json, i + 1)?;
        let name = &json[i + 1..key_end];
        i = skip_ws(json, key_end + 1);
        if json.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(json, i + 1);
        let start = i;
        i = value_end(json, i)?;
        if name == key {
            return Some(&json[start..i]);
        }
        i = skip_ws(json, i);
        match json.get(i)? {
            b',' => i = skip_ws(json, i + 1),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i) {
        if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            break;
        }
        i += 1;
    }
    i
}

/// Index of the closing quote of a string whose content starts at `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[j] == b'"' {
            return Some(j);
        }
        i = j + 2; // an escape: skip the backslash and the escaped byte
    }
}

/// Index just past the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i + 1).map(|j| j + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&c) = b.get(j) {
                match c {
                    b'"' => j = string_end(b, j + 1)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            // A number or a literal: up to the next delimiter.
            let rest = b.get(i..)?;
            let n = rest
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(rest.len());
            (n > 0).then_some(i + n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'a>(json: &'a str, key: &str) -> Option<&'a str> {
        member(json.as_bytes(), key.as_bytes()).map(|v| std::str::from_utf8(v).unwrap())
    }

    #[test]
    fn finds_top_level_members_only() {
        let body = r#"{"id":"x","choices":[{"message":{"content":"say \"usage\": {}","usage":1}}],
            "usage" : {"prompt_tokens":10,"completion_tokens":5}, "n": -1.5e3, "t": true}"#;
        assert_eq!(
            m(body, "usage"),
            Some(r#"{"prompt_tokens":10,"completion_tokens":5}"#)
        );
        assert_eq!(m(body, "n"), Some("-1.5e3"));
        assert_eq!(m(body, "t"), Some("true"));
        assert_eq!(m(body, "id"), Some(r#""x""#));
        assert_eq!(m(body, "message"), None);
        assert_eq!(m(r#"{"a":"\\","usage":2}"#, "usage"), Some("2"));
    }

    #[test]
    fn malformed_is_none_never_a_panic() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a""#,
            r#"{"a":}"#,
            r#"{"a":"x"#,
            r#"{"a":[1,2}"#,
            r#"{"a":1 "usage":2}"#,
            r#"{"a":"\"#,
            "{\"a\":]]]}",
            "{}",
        ] {
            assert_eq!(m(bad, "usage"), None, "{bad}");
        }
        // Deep nesting costs nothing but a counter.
        let deep = format!(
            r#"{{"a":{}1{},"usage":3}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(m(&deep, "usage"), Some("3"));
    }
}
