//! The length of a rate-limit window.

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::describe;
use crate::suggest;

/// The longest window a limit may use: 31 days. Longer windows are better
/// expressed as quotas outside the gateway, and keeping windows bounded keeps
/// counter keys short-lived.
pub(crate) const MAX_WINDOW_SECS: u64 = 31 * 86_400;

const UNITS: [(&str, u64); 4] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3_600),
    ("day", 86_400),
];

/// A window of whole seconds, from 1 second to 31 days.
///
/// Fixed windows are aligned to multiples of their length since the Unix
/// epoch, so `minute`, `hour` and `day` windows start on the UTC minute, hour
/// and day. Two windows are equal when their lengths are (`"minute"` == `60`).
/// It serialises as the unit name when it is exactly one unit, else as seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    secs: u64,
}

impl Window {
    /// A window of `secs` seconds, if within 1..=[`MAX_WINDOW_SECS`].
    fn from_secs(secs: u64) -> Option<Self> {
        (1..=MAX_WINDOW_SECS)
            .contains(&secs)
            .then_some(Self { secs })
    }

    pub fn secs(self) -> u64 {
        self.secs
    }

    /// The unit name when the window is exactly one unit.
    pub fn unit_name(self) -> Option<&'static str> {
        UNITS
            .iter()
            .find(|(_, secs)| *secs == self.secs)
            .map(|(name, _)| *name)
    }

    /// Reads a `window` value from a policy document; the error is a message.
    pub(crate) fn parse(value: &Value) -> Result<Self, String> {
        let names: Vec<&str> = UNITS.iter().map(|(name, _)| *name).collect();
        match value {
            Value::String(s) => {
                if let Some((_, secs)) = UNITS.iter().find(|(name, _)| name == s) {
                    return Ok(Self { secs: *secs });
                }
                if let Ok(n) = s.trim().parse::<u64>() {
                    return Err(format!(
                        "window {s:?} is a string; write whole seconds as a number: {n}"
                    ));
                }
                Err(format!(
                    "unknown window {s:?}{}; or give whole seconds as a number, e.g. 60",
                    suggest::hint(s, &names)
                ))
            }
            Value::Number(n) => match n.as_u64() {
                Some(secs) => Self::from_secs(secs).ok_or_else(|| {
                    if secs == 0 {
                        "window must be at least 1 second".to_owned()
                    } else {
                        format!(
                            "window of {secs} seconds is longer than the maximum of \
                             {MAX_WINDOW_SECS} seconds (31 days)"
                        )
                    }
                }),
                None if n.is_i64() => Err(format!(
                    "window must be a positive number of seconds, not {n}"
                )),
                None => Err(format!("window must be whole seconds, not {n}")),
            },
            other => Err(format!(
                "window must be {} or whole seconds as a number, not {}",
                suggest::list(&names),
                describe(other)
            )),
        }
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.unit_name() {
            Some(name) => serializer.serialize_str(name),
            None => serializer.serialize_u64(self.secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_unit_names_and_seconds() {
        let secs = |v| Window::parse(&v).map(Window::secs);
        assert_eq!(secs(json!("second")), Ok(1));
        assert_eq!(secs(json!("minute")), Ok(60));
        assert_eq!(secs(json!("hour")), Ok(3_600));
        assert_eq!(secs(json!("day")), Ok(86_400));
        assert_eq!(Window::parse(&json!(60)), Window::parse(&json!("minute")));
        assert_eq!(Window::parse(&json!(90)).map(Window::secs), Ok(90));
        assert_eq!(
            Window::parse(&json!(MAX_WINDOW_SECS)).map(Window::secs),
            Ok(MAX_WINDOW_SECS)
        );
    }

    #[test]
    fn rejects_bad_windows_with_actionable_messages() {
        let err = |v| Window::parse(&v).unwrap_err();
        assert!(err(json!("minutes")).contains("did you mean `minute`?"));
        assert!(err(json!("fortnight")).contains("expected one of"));
        assert!(err(json!("60")).contains("as a number: 60"));
        assert!(err(json!(0)).contains("at least 1 second"));
        assert!(err(json!(-5)).contains("positive"));
        assert!(err(json!(1.5)).contains("whole seconds"));
        assert!(err(json!(MAX_WINDOW_SECS + 1)).contains("maximum"));
        assert!(err(json!(null)).contains("not null"));
        assert!(err(json!(["minute"])).contains("not an array"));
    }

    #[test]
    fn serialises_as_unit_name_or_seconds() {
        let minute = Window::from_secs(60).unwrap();
        assert_eq!(serde_json::to_value(minute).unwrap(), json!("minute"));
        assert_eq!(minute.unit_name(), Some("minute"));
        let odd = Window::from_secs(90).unwrap();
        assert_eq!(serde_json::to_value(odd).unwrap(), json!(90));
        assert_eq!(Window::from_secs(0), None);
        assert_eq!(odd.unit_name(), None);
    }
}
