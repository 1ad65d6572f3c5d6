//! Field checks shared by request types; messages name the field.

use crate::error::ApiError;

/// Trimmed, lower-cased, roughly `local@domain.tld`. Deliverability is the
/// invitation's problem, not ours.
pub fn email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(ApiError::validation("email is not a valid email address"))
    }
}

/// A required, trimmed, one-line text of at most `max` characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(ApiError::validation(format!("{field} must not be empty")));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "{field} must be one line of at most {max} characters"
        )));
    }
    Ok(v.to_owned())
}

/// Like [`text`], but empty is allowed (an optional description).
pub fn text_or_empty(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    if raw.trim().is_empty() {
        Ok(String::new())
    } else {
        text(field, raw, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("  Ada@Example.ORG ").unwrap(), "ada@example.org");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "a@b@example.org",
            "ada@.org",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn texts() {
        assert_eq!(text("name", "  Ada ", 10).unwrap(), "Ada");
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "a\nb", 10).is_err());
        assert!(text("name", &"x".repeat(11), 10).is_err());
    }
}
