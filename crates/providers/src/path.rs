//! Keeping client-chosen names out of the structure of upstream URLs.
//!
//! A model or deployment name becomes one percent-encoded path segment, so `..`, `/`, `?`, `#`
//! or `%2F` in it can never move a request (and the upstream key it carries) to another path or
//! host. A passthrough path is accepted only when every segment is plain (unreserved characters,
//! no dot segments, no percent-escapes), so what the client names is exactly what is called.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986 unreserved characters is escaped in a segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a client-supplied path part was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the name must not be empty")]
    Empty,
    #[error("`{0}` is not allowed as a name in an upstream path")]
    DotSegment(String),
    #[error(
        "the path `{0}` is not a plain API path (allowed: letters, digits, `-`, `_`, `.`, `~`, `:` and `/` between non-empty segments)"
    )]
    Unsafe(String),
}

/// One path segment for a name (model, deployment): percent-encoded; `.` and `..` refused.
pub fn segment(name: &str) -> Result<String, PathError> {
    match name {
        "" => Err(PathError::Empty),
        "." | ".." => Err(PathError::DotSegment(name.to_owned())),
        _ => Ok(utf8_percent_encode(name, SEGMENT).to_string()),
    }
}

/// Checks a passthrough path below `/v1/` (e.g. `images/generations`,
/// `files/file-abc/content`): non-empty segments of `[A-Za-z0-9-_.~:]`, none of them `.` or
/// `..`. Returns it unchanged when it is safe.
pub fn passthrough(path: &str) -> Result<&str, PathError> {
    let plain = !path.is_empty()
        && path.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~:".contains(&b))
        });
    if plain {
        Ok(path)
    } else {
        Err(PathError::Unsafe(path.chars().take(200).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_one_segment() {
        assert_eq!(segment("gpt-4o").unwrap(), "gpt-4o");
        assert_eq!(
            segment("a/../../evil/x?").unwrap(),
            "a%2F..%2F..%2Fevil%2Fx%3F"
        );
        assert_eq!(segment("x#y%2F").unwrap(), "x%23y%252F");
        assert_eq!(segment("gemini-2.5-pro").unwrap(), "gemini-2.5-pro");
        assert!(segment("..").is_err());
        assert!(segment(".").is_err());
        assert!(segment("").is_err());
    }

    #[test]
    fn passthrough_paths_must_be_plain() {
        for ok in [
            "images/generations",
            "files/file-1/content",
            "audio/speech",
            "models/ft:gpt-4o:org",
        ] {
            assert_eq!(passthrough(ok), Ok(ok));
        }
        for bad in [
            "",
            "../evil",
            "a/../b",
            "a/./b",
            "a//b",
            "a%2Fb",
            "a%2e%2e/b",
            "a?b",
            "a#b",
            "a\\b",
            "/abs",
            "x/",
            "a b",
        ] {
            assert!(passthrough(bad).is_err(), "{bad}");
        }
    }
}
