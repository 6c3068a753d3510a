//! Who a login names: the username and e-mail values, and the one normalisation under which they are
//! looked up, kept unique, and counted by the login lock ([`normalize`]). Decided here and nowhere
//! else, below configuration, users and limits alike.

/// The one normalisation of a login identifier (username or e-mail), used for lookup, uniqueness and
/// the login lock alike: Unicode compatibility composition (NFKC, so full-width letters, ligatures and
/// other compatibility look-alikes fold to their plain form), lower case, NFKC again (lower-casing can
/// decompose), then surrounding white space trimmed. Confusables across scripts (a Cyrillic `а` for a
/// Latin `a`) stay distinct: they are different names, counted apart, for known and unknown alike.
pub(crate) fn normalize(identifier: &str) -> String {
    let nfkc = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc();
    let lower = nfkc.normalize(identifier).to_lowercase();
    nfkc.normalize(&lower).trim().to_string()
}

/// A login name: 1 to 64 characters of letters, digits and `. _ - @`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_len = (1..=64).contains(&raw.chars().count());
        let ok_chars = raw
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if ok_len && ok_chars {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!(
                "`{raw}` is not a username (1 to 64 letters, digits, '.', '_', '-', '@')"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, kept as given; compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// What the local part of a valid e-mail address may hold besides ASCII letters and digits.
const LOCAL_EXTRA: &str = ".!#$%&'*+/=?^_`{|}~-";

impl Email {
    /// A *valid e-mail address* as the WHATWG HTML standard defines it for `<input type="email">`
    /// (what browsers accept): a local part of ASCII letters, digits and ``.!#$%&'*+/=?^_`{|}~-``, an
    /// `@`, and a domain of dot-separated labels of 1 to 63 ASCII letters, digits and hyphens, neither
    /// starting nor ending with a hyphen; 254 characters at most in all. Nothing that could be markup
    /// (`<`, `>`, `"`, spaces) passes, so the address is safe to carry in tokens' claims. Every path
    /// that sets an e-mail goes through it (the admin API, the users file, `API_USER_EMAIL`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let label = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let valid = raw.len() <= 254
            && matches!(raw.split_once('@'), Some((local, domain))
                if !local.is_empty()
                    && local.bytes().all(|b| b.is_ascii_alphanumeric() || LOCAL_EXTRA.as_bytes().contains(&b))
                    && domain.split('.').all(label));
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!("`{raw}` is not an e-mail address"))
        }
    }

    /// An address read back from the store, as it was set: one set by an earlier version under looser
    /// rules stays readable (the account keeps working) until an admin corrects it.
    pub fn stored(raw: &str) -> Self {
        Self(raw.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails_are_validated() {
        assert!(Username::parse("maria.p").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("@b.co").is_err());
        assert!(Email::parse("a b@c.co").is_err());
    }

    #[test]
    fn emails_are_what_browsers_take_for_input_type_email() {
        for good in [
            "a@b",
            "maria.p+tag@juzgado-3.example.co",
            "o'neil@example.com",
            "x!#$%&'*+/=?^_`{|}~-@a.b",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "\"><img/src=x/onerror=alert(1)>@evil.co",
            "<script>@x.io",
            "a@b..c",
            "a@-b.co",
            "a@b-.co",
            "a@.b",
            "a@b.",
            "a@@b.co",
            "a@b_c.co",
            "\"quoted\"@x.io",
            "maría@x.io",
            "a@bücher.de",
            "a@b.co ",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long_label = format!("a@{}.co", "x".repeat(64));
        assert!(Email::parse(&long_label).is_err());
        let too_long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&too_long).is_err());
    }

    #[test]
    fn one_normalisation_folds_case_width_and_surrounding_space() {
        for spelling in [
            "maria",
            "MARIA",
            " Maria ",
            "\u{ff2d}\u{ff21}\u{ff32}\u{ff29}\u{ff21}",
            "\u{3000}maria\t",
        ] {
            assert_eq!(normalize(spelling), "maria", "{spelling:?}");
        }
        assert_eq!(normalize("\u{fb01}n"), "fin", "a ligature folds");
        assert_ne!(
            normalize("m\u{430}ria"),
            "maria",
            "another script stays another name"
        );
    }
}
