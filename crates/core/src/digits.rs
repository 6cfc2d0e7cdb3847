//! Integers and millisecond figures written as ASCII digits straight into a byte buffer, for
//! the lines and headers written once per request (access log, overhead header): the same
//! text as `{}` / `{:03}` / `{:06}`, without the `fmt` machinery. Integers go through `itoa`
//! (already in the tree under serde_json); the zero-padded fractions are written here.

/// Appends `n` in decimal.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n` in decimal, with a `-` when negative.
pub fn push_i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends the last `width` decimal digits of `n`, zero-padded (`width` at most 19).
pub fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut n = n;
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Appends whole microseconds as milliseconds with three decimals (`12.345`).
pub fn push_millis(out: &mut Vec<u8>, micros: u64) {
    push_u64(out, micros / 1000);
    out.push(b'.');
    push_padded(out, micros % 1000, 3);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = b"x".to_vec();
        f(&mut v);
        String::from_utf8_lossy(&v[1..]).into_owned()
    }

    #[test]
    fn edges() {
        assert_eq!(text(|v| push_u64(v, 0)), "0");
        assert_eq!(text(|v| push_u64(v, u64::MAX)), u64::MAX.to_string());
        assert_eq!(text(|v| push_i64(v, i64::MIN)), i64::MIN.to_string());
        assert_eq!(text(|v| push_i64(v, -7)), "-7");
        assert_eq!(text(|v| push_padded(v, 7, 6)), "000007");
        assert_eq!(text(|v| push_padded(v, 1_234_567, 3)), "567");
        assert_eq!(text(|v| push_millis(v, 0)), "0.000");
        assert_eq!(text(|v| push_millis(v, 12_345)), "12.345");
        assert_eq!(text(|v| push_millis(v, 90_000_000)), "90000.000");
    }

    proptest! {
        #[test]
        fn same_text_as_fmt(n in any::<u64>(), i in any::<i64>(), small in 0u64..1_000_000) {
            prop_assert_eq!(text(|v| push_u64(v, n)), n.to_string());
            prop_assert_eq!(text(|v| push_i64(v, i)), i.to_string());
            prop_assert_eq!(text(|v| push_padded(v, small, 6)), format!("{small:06}"));
            prop_assert_eq!(
                text(|v| push_millis(v, n)),
                format!("{}.{:03}", n / 1000, n % 1000)
            );
        }
    }
}
