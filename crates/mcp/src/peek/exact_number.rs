//! Whether a JSON number literal means what the policy reads it as.
//!
//! The policy reads arguments with `serde_json`, whose numbers are `u64`,
//! `i64` or `f64`. A literal such as `10.0000000000000000001` is read as `10`
//! and passes `"maximum": 10`, while an upstream that keeps exact decimals or
//! big integers sees more than ten. The gateway forwards the literal as sent,
//! so it accepts a literal only when its decimal value is the value the
//! policy reads: an integer that fits, or the shortest decimal that names
//! the `f64` (`0.1`, `1e2`, `-0`, `2.5E-3`, `100.0`). Every JSON encoder
//! writes numbers that way, so an honest client never meets the refusal.
//! When a double lies exactly halfway between two shortest decimals,
//! encoders break the tie differently (`ryu`, behind `serde_json`, and Rust's
//! own formatter disagree), so either of the two passes: each reads back as
//! the same double, and neither is further from it than the other.
//!
//! The check allocates nothing: short integers (the common case) are decided
//! from their length; other literals are parsed as `serde_json` parses them
//! (correctly rounded: the `float_roundtrip` feature), formatted shortest
//! into stack buffers and compared digit by digit.

use std::fmt::Write as _;

/// Digits of an integer literal that surely fits `i64`/`u64` either way.
const SURELY_FITS: usize = 18;

/// `-1.7976931348623157e308` is 23 bytes: the longest shortest `f64`.
const SHORTEST_MAX: usize = 32;

/// Whether `literal` is decided without parsing: an integer of at most
/// [`SURELY_FITS`] digits, which `serde_json` reads exactly.
pub(crate) fn is_plain_integer(literal: &str) -> bool {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    !digits.is_empty() && digits.len() <= SURELY_FITS && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the policy reads `literal` (a valid JSON number) as exactly the
/// value it denotes. Out-of-range literals (`1e400`) are not exact.
pub(crate) fn is_exact(literal: &str) -> bool {
    if is_plain_integer(literal) {
        return true;
    }
    // Parsed exactly as the policy's reader parses it (same crate, same
    // features), so that the comparison is with the value it judges.
    let Ok(number) = serde_json::from_str::<serde_json::Number>(literal) else {
        return false;
    };
    if number.is_u64() || number.is_i64() {
        // Only integer literals (no `.`, no exponent) that fit become these.
        return true;
    }
    let Some(value) = number.as_f64().filter(|v| v.is_finite()) else {
        return false;
    };
    let mut ryu = ryu::Buffer::new();
    if same_decimal(literal.as_bytes(), ryu.format_finite(value).as_bytes()) {
        return true;
    }
    // Rust's `{:e}` is shortest and closest too; it differs from `ryu` only
    // in how it breaks a halfway tie.
    let mut shortest = StackText::default();
    write!(shortest, "{value:e}").is_ok() && same_decimal(literal.as_bytes(), shortest.as_bytes())
}

/// Whether two number texts (JSON grammar, exponent optional) denote the
/// same decimal value. `-0` equals `0`.
fn same_decimal(a: &[u8], b: &[u8]) -> bool {
    match (Decimal::read(a), Decimal::read(b)) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.negative == b.negative
                && a.exponent == b.exponent
                && a.significant_digits().eq(b.significant_digits())
        }
        _ => false,
    }
}

/// A non-zero number text as `±digits × 10^exponent`, where `digits` has no
/// leading or trailing zero. Borrowed: the digits are read from the text.
struct Decimal<'a> {
    negative: bool,
    /// From the first to the last non-zero digit; may contain the `.`.
    digits: &'a [u8],
    /// The power of ten of the last non-zero digit.
    exponent: i64,
}

impl<'a> Decimal<'a> {
    /// `None` for zero.
    fn read(text: &'a [u8]) -> Option<Decimal<'a>> {
        let (negative, text) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, text),
        };
        let split = text
            .iter()
            .position(|b| matches!(b, b'e' | b'E'))
            .unwrap_or(text.len());
        let (mantissa, exponent_text) = text.split_at(split);
        let dot = mantissa
            .iter()
            .position(|&b| b == b'.')
            .unwrap_or(mantissa.len());
        let first = mantissa.iter().position(|b| matches!(b, b'1'..=b'9'))?;
        let last = mantissa.iter().rposition(|b| matches!(b, b'1'..=b'9'))?;
        // The place value of the last significant digit, counting the `.`.
        let place = if last < dot {
            to_i64(dot - last - 1)
        } else {
            -to_i64(last - dot)
        };
        Some(Decimal {
            negative,
            digits: mantissa.get(first..=last)?,
            exponent: read_exponent(exponent_text).saturating_add(place),
        })
    }

    fn significant_digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.digits.iter().copied().filter(|&b| b != b'.')
    }
}

/// `e+12`, `E-3`, or empty; saturating, since a huge exponent can only be
/// compared with a number the parser already refused or turned into zero.
fn read_exponent(text: &[u8]) -> i64 {
    let digits = text.get(1..).unwrap_or_default();
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, digits),
    };
    let magnitude = digits.iter().fold(0i64, |acc, &b| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(b.wrapping_sub(b'0')))
    });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A small text buffer on the stack, for one formatted `f64`.
#[derive(Default)]
struct StackText {
    bytes: [u8; SHORTEST_MAX],
    len: usize,
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_the_policy_reads_exactly_pass() {
        for literal in [
            "0",
            "-0",
            "7",
            "-42",
            "100",
            "0.1",
            "-0.1",
            "0.10",
            "1e2",
            "1E2",
            "1e+2",
            "100.0",
            "10.5",
            "2.5E-3",
            "0.0025",
            "0e0",
            "-0.0",
            "0e99999999999999999999",
            "999999999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "9007199254740993",
            "1e23",
            "1.7976931348623157e308",
            "5e-324",
            "123456789.125",
            "0.30000000000000004",
            "100000000000000000000000",
        ] {
            assert!(is_exact(literal), "{literal}");
        }
    }

    #[test]
    fn numbers_the_policy_would_read_as_another_value_are_refused() {
        for literal in [
            "10.0000000000000000001",
            "100000000000000000000001",
            "18446744073709551616",
            "-9223372036854775809",
            "1e400",
            "-1e400",
            "1e-400",
            "1e99999999999999999999",
            "0.1000000000000000055511151231257827021181583404541015625",
            "9007199254740993.0",
            "0.3000000000000000444",
            "1.00000000000000001",
            // Halfway between two doubles: read as ...992 (ties to even), while
            // an exact reader sees ...993.
            "9007199254740993.0",
            "9.007199254740993e15",
            "-1493533440848799.25",
        ] {
            assert!(!is_exact(literal), "{literal}");
        }
    }

    #[test]
    fn plain_integers_are_decided_from_their_length() {
        assert!(is_plain_integer("123456789012345678"));
        assert!(is_plain_integer("-123456789012345678"));
        assert!(!is_plain_integer("1234567890123456789"));
        assert!(!is_plain_integer("1.5"));
        assert!(!is_plain_integer("1e2"));
        assert!(!is_plain_integer("-"));
    }

    #[test]
    fn both_shortest_forms_of_a_halfway_double_pass() {
        // The double is exactly ...799.25: `ryu` (serde_json) writes .2,
        // Rust's formatter .3; either reads back as it.
        assert!(is_exact("-1493533440848799.2"));
        assert!(is_exact("-1493533440848799.3"));
    }

    #[test]
    fn decimals_compare_by_value() {
        assert!(same_decimal(b"1e2", b"100"));
        assert!(same_decimal(b"0.00100", b"1e-3"));
        assert!(same_decimal(b"-0", b"0e0"));
        assert!(same_decimal(b"12.50e1", b"125"));
        assert!(!same_decimal(b"12.5", b"125"));
        assert!(!same_decimal(b"-1", b"1"));
        assert!(!same_decimal(b"0", b"1e-400"));
    }
}
