//! The managed data identifiers, as data.
//!
//! Each [`ManagedIdentifier`] says what a value looks like (a [`Matcher`]), which keywords make
//! it credible and whether one is required, which validator confirms it, its category and how
//! its severity grows, and carries positive and negative examples that `mod tests` checks
//! against the compiled engine. The engine (`engine.rs`) never hard-codes an identifier name:
//! everything it knows about one comes from this table.
//!
//! Matchers come in two families, chosen for speed:
//! - **Shapes** for numeric identifiers (cards, SSNs, NHS numbers…): a tiny layout language
//!   (`d` digit, `L` upper-case letter, `A` upper-case letter or digit, `~` one separator that is
//!   a space or a dash and is the same throughout, anything else literal; a leading `!` marks a
//!   layout that needs a keyword). The engine finds digit runs with a word-at-a-time scan and
//!   only tries the layouts whose first digit group has the run's length.
//! - **Anchored regexes** for credentials: one Aho-Corasick automaton over every anchor literal
//!   finds candidate positions, and the identifier's regex runs only in a small window there.

use crate::validators as v;

/// Category of an identifier, as Macie names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    Credentials,
    Financial,
    Personal,
}

impl Category {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Category::Credentials => "CREDENTIALS",
            Category::Financial => "FINANCIAL_INFORMATION",
            Category::Personal => "PERSONAL_INFORMATION",
        }
    }
}

/// How severity follows from the number of occurrences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeverityRule {
    /// HIGH at any count (credentials, financial data, national identifiers).
    High,
    /// LOW at 1, MEDIUM at 2–99, HIGH at 100 or more (contact details, dates of birth).
    ByCount,
}

/// Whether a keyword is needed near a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeywordRule {
    /// Matches count without a keyword (shapes marked `!` still need one).
    Optional,
    /// Every match needs a keyword.
    Required,
    /// A keyword selects this name; without one the match is reported under the given name.
    Boosts(&'static str),
}

/// Confirms a candidate: `raw` is the matched text, `sig` its significant characters (digits and
/// letters, separators removed, upper-cased).
pub(crate) type Validator = fn(raw: &[u8], sig: &[u8]) -> bool;

/// What a value looks like.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Matcher {
    /// Layouts in the shape language described in the module docs.
    Shapes(&'static [&'static str]),
    /// An IBAN: two letters, two check digits, a country-specific BBAN, optional spaces.
    Iban,
    /// A calendar date (numeric layouts and month names).
    Date,
    /// A phone number (international with `+`, or national with a keyword).
    Phone,
    /// A latitude and longitude pair in decimal degrees.
    LatLong,
    /// An e-mail address, found from its `@`.
    Email,
    /// An AWS access key ID paired with a secret access key.
    AwsCredentials,
    /// A hard-coded secret assigned to a key: `password = "…"`, `"api_key": "…"`,
    /// `DB_PASSWORD=…`. Anchors are fragments of key names; the key may carry a prefix
    /// (`db_password`) and one of the `suffixes` (`secret_key`). Only the value is reported,
    /// and only when the validator accepts it (placeholders, variables and words are not).
    /// `strict`: the value must also look random (keys such as `secret` or `token` often hold
    /// names rather than secrets).
    Assignment {
        anchors: &'static [&'static str],
        suffixes: &'static [&'static str],
        strict: bool,
    },
    /// A regex run in `[anchor - back, anchor + fwd]` wherever an anchor literal occurs. When
    /// the regex has a capture group, group 1 is the secret that validators and allow lists see.
    Regex {
        anchors: &'static [&'static str],
        pattern: &'static str,
        back: usize,
        fwd: usize,
    },
}

/// One managed data identifier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ManagedIdentifier {
    pub(crate) name: &'static str,
    pub(crate) category: Category,
    pub(crate) matcher: Matcher,
    pub(crate) keywords: &'static [&'static str],
    pub(crate) keyword_rule: KeywordRule,
    pub(crate) validator: Option<Validator>,
    pub(crate) severity: SeverityRule,
    /// Part of the RECOMMENDED selection.
    pub(crate) recommended: bool,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) examples: &'static [&'static str],
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) negative_examples: &'static [&'static str],
}

/// Distance (in characters) a keyword may sit before a match in unstructured text.
pub(crate) const KEYWORD_DISTANCE: usize = 30;

const fn id(name: &'static str, category: Category, matcher: Matcher) -> ManagedIdentifier {
    ManagedIdentifier {
        name,
        category,
        matcher,
        keywords: &[],
        keyword_rule: KeywordRule::Optional,
        validator: None,
        severity: SeverityRule::High,
        recommended: true,
        examples: &[],
        negative_examples: &[],
    }
}

fn ok_luhn_card(_raw: &[u8], sig: &[u8]) -> bool {
    v::credit_card(sig)
}
fn ok_ssn(_raw: &[u8], sig: &[u8]) -> bool {
    v::us_ssn(sig)
}
fn ok_itin(_raw: &[u8], sig: &[u8]) -> bool {
    v::us_itin(sig)
}
fn ok_nhs(_raw: &[u8], sig: &[u8]) -> bool {
    v::uk_nhs(sig)
}
fn ok_nino(_raw: &[u8], sig: &[u8]) -> bool {
    v::uk_nino(sig)
}
fn ok_sin(_raw: &[u8], sig: &[u8]) -> bool {
    v::canada_sin(sig)
}
fn ok_aadhaar(_raw: &[u8], sig: &[u8]) -> bool {
    v::india_aadhaar(sig)
}
fn ok_cpf(_raw: &[u8], sig: &[u8]) -> bool {
    v::brazil_cpf(sig)
}
fn ok_dni(_raw: &[u8], sig: &[u8]) -> bool {
    v::spain_dni(sig)
}
fn ok_passport(_raw: &[u8], sig: &[u8]) -> bool {
    v::us_passport(sig)
}
fn ok_bank(_raw: &[u8], sig: &[u8]) -> bool {
    v::bank_account(sig)
}
fn ok_expiry(_raw: &[u8], sig: &[u8]) -> bool {
    let m = u32::from(sig[0] - b'0') * 10 + u32::from(sig[1] - b'0');
    (1..=12).contains(&m)
}
fn ok_cvv(_raw: &[u8], sig: &[u8]) -> bool {
    sig.len() == 3 || sig.len() == 4
}
fn ok_drivers_license(_raw: &[u8], sig: &[u8]) -> bool {
    let digits = sig.iter().filter(|b| b.is_ascii_digit()).count();
    digits >= 6 && v::bank_account(&sig[sig.len() - digits..])
}
fn ok_random(_raw: &[u8], sig: &[u8]) -> bool {
    v::looks_random(sig)
}
fn ok_not_stripe_test(raw: &[u8], sig: &[u8]) -> bool {
    memchr::memmem::find(raw, b"_test").is_none() && v::looks_random(sig)
}
fn ok_basic_auth(_raw: &[u8], sig: &[u8]) -> bool {
    match base64_decode(sig) {
        Some(decoded) => {
            decoded.contains(&b':')
                && decoded.len() >= 3
                && decoded
                    .iter()
                    .all(|&b| (0x20..0x7f).contains(&b) || b >= 0x80)
        }
        None => false,
    }
}
fn ok_jwt(_raw: &[u8], sig: &[u8]) -> bool {
    let header = sig.split(|&b| b == b'.').next().unwrap_or(b"");
    match base64_decode(header) {
        Some(decoded) => {
            let lower = decoded.to_ascii_lowercase();
            memchr::memmem::find(&lower, b"\"alg\"").is_some()
                || memchr::memmem::find(&lower, b"\"typ\"").is_some()
        }
        None => false,
    }
}
fn ok_db_password(_raw: &[u8], sig: &[u8]) -> bool {
    let lower = sig.to_ascii_lowercase();
    !sig.is_empty()
        && !sig.iter().any(|b| b"*<>{}[]$%".contains(b) && *b != b'%')
        && !sig.starts_with(b"$")
        && !matches!(
            lower.as_slice(),
            b"password"
                | b"pass"
                | b"passwd"
                | b"pwd"
                | b"xxx"
                | b"xxxx"
                | b"xxxxxx"
                | b"changeme"
                | b"yourpassword"
                | b"your_password"
                | b"mypassword"
        )
        && !lower.starts_with(b"${")
}
fn ok_bearer(raw: &[u8], sig: &[u8]) -> bool {
    // A JWT after `Bearer` is reported as JSON_WEB_TOKEN.
    !sig.starts_with(b"eyJ") && ok_db_password(raw, sig) && sig.iter().any(u8::is_ascii_digit)
}
fn ok_pem_b64(_raw: &[u8], sig: &[u8]) -> bool {
    let n = sig.len() / 4 * 4;
    match base64_decode(&sig[..n.min(120)]) {
        Some(decoded) => memchr::memmem::find(&decoded, b"PRIVATE KEY").is_some(),
        None => false,
    }
}

/// Decodes standard or URL-safe base64 (padding optional); `None` if it is not base64.
pub(crate) fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &b in s {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

use Category::{Credentials, Financial, Personal};
use KeywordRule::{Boosts, Required};

const CARD_KEYWORDS: &[&str] = &[
    "credit card",
    "card number",
    "card no",
    "card num",
    "cc#",
    "cc #",
    "ccn",
    "cc number",
    "cc no",
    "visa",
    "mastercard",
    "master card",
    "amex",
    "american express",
    "discover",
    "diners",
    "jcb",
    "maestro",
    "unionpay",
    "payment card",
    "debit card",
    "credit",
    "debit",
    "card",
    "pan",
    "tarjeta",
    "carte",
    "kreditkarte",
    "cartão",
];
const EXPIRY_KEYWORDS: &[&str] = &[
    "exp",
    "expiry",
    "expiration",
    "expires",
    "valid thru",
    "valid through",
    "good thru",
    "exp date",
];
const CVV_KEYWORDS: &[&str] = &[
    "cvv",
    "cvv2",
    "cvc",
    "cvc2",
    "cid",
    "security code",
    "card verification",
    "csc",
];

/// Returns the managed identifiers, in priority order: when two identifiers claim the same
/// digits, the earlier one with its keyword present wins.
pub(crate) fn managed() -> &'static [ManagedIdentifier] {
    MANAGED
}

static MANAGED: &[ManagedIdentifier] = &[
    // ---------------------------------------------------------------- credentials (Macie)
    ManagedIdentifier {
        examples: &[
            "[default]\naws_access_key_id = AKIA44W6RVYI5BFXSJWU\naws_secret_access_key = P0+atqAVCZQXq4fEQesiNV1/KWVzJDC/Iw/oA8j1\n",
            "export AWS_ACCESS_KEY_ID=\"AKIAQYLPMN5HHHFPZAM2\"\nexport AWS_SECRET_ACCESS_KEY=\"1tUm636uS1yOEcfP5pvfqJ/ml36mF7AkyHsEU0IU\"",
        ],
        negative_examples: &[
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AKIA44W6RVYI5BFXSJWU alone is only a key ID",
        ],
        ..id("AWS_CREDENTIALS", Credentials, Matcher::AwsCredentials)
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "google_api_key: AIzaSyB4sU8lU15bR_87qNb7eUVQN72_vv8mpbU",
            "var k='AIzaEl2hpChYgCfrL1spNxnyVmihA_2O76UMFxF';",
        ],
        negative_examples: &[
            "AIzaSyB4sU8lU15bR_87qNb7eUVQN72_vv8mp",
            "AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        ],
        ..id(
            "GCP_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["AIza"],
                pattern: r"AIza[0-9A-Za-z_\-]{35}",
                back: 0,
                fwd: 40,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_basic_auth),
        examples: &[
            "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "curl -H 'authorization: basic amVubmlmZXI2MTpkbmJNakFkVGRsekM='",
        ],
        negative_examples: &[
            "Authorization: Basic realm=\"Access\"",
            "Authorization: Basic <credentials>",
            "basic training",
        ],
        ..id(
            "HTTP_BASIC_AUTH_HEADER",
            Credentials,
            Matcher::Regex {
                anchors: &["uthorization", "UTHORIZATION"],
                pattern: r#"(?i:authorization)["']?\s*[:=]\s*["']?(?i:basic)\s+([A-Za-z0-9+/]{6,}={0,2})"#,
                back: 1,
                fwd: 640,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_jwt),
        examples: &[
            "token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        ],
        negative_examples: &[
            "eye.eyeable.should be_nill",
            "eyJ0eXAiOiAiVENWMiJ9.RkNWLXdXS3M1RVBfencxM4A0WmJzdVlCQzFj.OGY1OWRkNGM",
        ],
        ..id(
            "JSON_WEB_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["eyJ"],
                pattern: r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
                back: 0,
                fwd: 8192,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n",
        ],
        negative_examples: &[
            "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH user@host",
        ],
        ..id(
            "OPENSSH_PRIVATE_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["-----BEGIN OPENSSH PRIVATE KEY"],
                pattern: r"-----BEGIN OPENSSH PRIVATE KEY-----[ \t]*(?:\r?\n|\\r?\\n|\x22?\s*\+\s*\x22)+\s*[A-Za-z0-9+/]{40}",
                back: 0,
                fwd: 200,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0aAAABCAC8tO1Q0ZiJ2Q6cMeWzLFgNaPeH1lSCMzBWKq8jRbcNdQ0GwLTVIT\n-----END PGP PRIVATE KEY BLOCK-----",
        ],
        negative_examples: &[
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF0aAAABCAC8tO1Q0ZiJ2Q6cMeWzLFgNaPeH1lSCMzBWKq8jRbcNdQ0GwLTVIT\n-----END PGP PUBLIC KEY BLOCK-----",
        ],
        ..id(
            "PGP_PRIVATE_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["-----BEGIN PGP PRIVATE KEY"],
                pattern: r"-----BEGIN PGP PRIVATE KEY BLOCK-----[ \t]*(?:\r?\n|\\r?\\n)(?:[A-Za-z][A-Za-z\-]*: [^\r\n]*(?:\r?\n|\\r?\\n))*\s*(?:\\r?\\n)?[A-Za-z0-9+/]{40}",
                back: 0,
                fwd: 600,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAo+d6kR4fV9pnWpTVRJFEQKQLNy3rUxCF0p8TuvpqQfQO0Qdk\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oJ6HmcmuREHgoAoGCCqGSM49\n-----END EC PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQIsC2NpUjgX3YCAggA\n-----END ENCRYPTED PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,2A6B0C8F\n\nMIIEowIBAAKCAQEAo+d6kR4fV9pnWpTVRJFEQKQLNy3rUxCF0p8TuvpqQfQO0Qdk\n",
            "PRIVATE_KEY_B64=LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb2dJQkFBS0NBUUVBb3kxWFh1Vk",
        ],
        negative_examples: &[
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo+d6kR4fV9pnWpTVRJFE\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----",
            "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
        ],
        ..id(
            "PKCS",
            Credentials,
            Matcher::Regex {
                anchors: &[
                    "-----BEGIN PRIVATE KEY",
                    "-----BEGIN RSA PRIVATE KEY",
                    "-----BEGIN EC PRIVATE KEY",
                    "-----BEGIN DSA PRIVATE KEY",
                    "-----BEGIN ENCRYPTED PRIVATE KEY",
                    "-----BEGIN ANY PRIVATE KEY",
                ],
                pattern: r"-----BEGIN (?:RSA |EC |DSA |ENCRYPTED |ANY )?PRIVATE KEY-----[ \t]*(?:\r?\n|\\r?\\n|\x22?\s*\+\s*\x22)+(?:[A-Za-z][A-Za-z\-]*: [^\r\n]*(?:\r?\n|\\r?\\n))*\s*(?:\\r?\\n)?[A-Za-z0-9+/]{40}",
                back: 0,
                fwd: 600,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_pem_b64),
        ..id(
            "PKCS",
            Credentials,
            Matcher::Regex {
                anchors: &["LS0tLS1CRUdJTi"],
                pattern: r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{40,}={0,2}",
                back: 0,
                fwd: 8192,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: imported-openssh-key\nPublic-Lines: 6\n",
        ],
        negative_examples: &[
            "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"rsa-key-20200101\"\nAAAAB3NzaC1yc2EAAAABJQAAAQEAhU\n---- END SSH2 PUBLIC KEY ----",
        ],
        ..id(
            "PUTTY_PRIVATE_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["PuTTY-User-Key-File-"],
                pattern: r"PuTTY-User-Key-File-[1-9]: *[A-Za-z0-9@.\-]+",
                back: 0,
                fwd: 80,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_not_stripe_test),
        examples: &[
            "Stripe.api_key = \"sk_live_dhhfUUyfrAace5dBAZ10JrAD\"",
            "STRIPE_KEY=rk_live_4Ic0ViwBJwf1HlisUq7BKfoV",
        ],
        negative_examples: &[
            "STRIPE_TEST_KEY=sk_test_zDzV8fUkkibjL5DZPjN0MEQ7",
            "pk_live_dhhfUUyfrAace5dBAZ10JrAD",
        ],
        ..id(
            "STRIPE_CREDENTIALS",
            Credentials,
            Matcher::Regex {
                anchors: &["k_live_", "whsec_"],
                pattern: r"(?:[sr]k_live_[0-9A-Za-z]{20,247}|whsec_[0-9A-Za-z+/]{32,})",
                back: 1,
                fwd: 260,
            },
        )
    },
    // ---------------------------------------------------------------- credentials (beyond Macie)
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "GITHUB_KEY=ghp_XIxB7KMNdAr3zqWtQqhE94qglHqOzn1D1stg",
            "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B",
        ],
        negative_examples: &["ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ghp_short"],
        ..id(
            "GITHUB_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
                pattern: r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{50,})",
                back: 0,
                fwd: 260,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "--build-arg 'GO_REPO_TOKEN=glpat-tFrjFXD7soVUrnTe2RnJ'",
            "-F token=glptt-0d66598d696a02da33fb65e2c6a06df4ba9ff7d1",
        ],
        negative_examples: &["glpat-xxxxxxxxxxxxxxxxxxxx"],
        ..id(
            "GITLAB_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &[
                    "glpat-",
                    "glptt-",
                    "glrt-",
                    "GR1348941",
                    "gldt-",
                    "glcbt-",
                    "glsoat-",
                ],
                pattern: r"(?:glpat-[A-Za-z0-9_\-]{20,}|glptt-[0-9a-f]{40}|glrt-[A-Za-z0-9_\-]{20,}|GR1348941[A-Za-z0-9_\-]{20,}|gldt-[A-Za-z0-9_\-]{20,}|glcbt-[A-Za-z0-9_\-]{20,}|glsoat-[A-Za-z0-9_\-]{20,})",
                back: 0,
                fwd: 100,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "SLACK_API_TOKEN=xoxb-893582989554-899326518131-JRHeVv1o9Cf99fwDpuortR2D",
            "xapp-1-A02HYSV13M4-2555418585409-8c8e3c0f9cd0d7b1c7a4d9f5a3a1c6d8a0e8b0e5f7a1f6b2d3e9c4d5a6b7c8d9",
        ],
        negative_examples: &[
            "export SLACK_TOKEN=\"xoxb-0000000000-0000000000000-xxxxxxxxxxxxxxxxxxxxxxxx\"",
        ],
        ..id(
            "SLACK_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["xox", "xapp-"],
                pattern: r"(?:xox[baprse](?:\.xox[a-z]-?)?-[0-9A-Za-z\-]{20,}|xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9]{20,}|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,})",
                back: 0,
                fwd: 260,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "#notify: https://hooks.slack.com/services/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",
        ],
        negative_examples: &[
            "https://hooks.slack.com/services/XXXXXXXXX/XXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX",
        ],
        validator: Some(ok_random),
        ..id(
            "SLACK_WEBHOOK_URL",
            Credentials,
            Matcher::Regex {
                anchors: &["hooks.slack.com/"],
                pattern: r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9+/_\-]{30,})",
                back: 0,
                fwd: 200,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "DefaultEndpointsProtocol=https;AccountName=hanatour9833;AccountKey=6jqh42QQjWWBwoPGGR/Jr0PZjhBMZVbHm/gkhEfHvOj8aV6+oI8ed6ZAAwB5a6993WqyQDiuJJB0QpseJwqYxw==;EndpointSuffix=core.windows.net",
        ],
        negative_examples: &[
            "AccountName=<YOUR_ACCOUNT_NAME>;\nAccountKey=<YOUR_ACCOUNT_KEY>;\n",
            "AccountName=X;AccountKey=X;",
        ],
        ..id(
            "AZURE_STORAGE_ACCOUNT_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &[
                    "AccountKey=",
                    "accountkey=",
                    "ACCOUNTKEY=",
                    "SharedAccessKey=",
                    "sharedaccesskey=",
                    "SHAREDACCESSKEY=",
                ],
                pattern: r"(?i:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{40,88}={0,2})",
                back: 0,
                fwd: 120,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_db_password),
        examples: &[
            "DATABASE_URL=postgres://spot_app:Pseg2020@calling-mr-bones.redshift.amazonaws.com:5439/prod",
            "mongodb+srv://servicelogin:CPCdZH5k0F6dxQ9V@example-prince.mongodb.net/?retryWrites=true",
            "redis://:s3cr3tP4ss@cache.internal:6379/0",
        ],
        negative_examples: &[
            "postgresql:///mydb?host=localhost&port=5433&user=user&password=secret",
            "postgres://user:${DB_PASSWORD}@db:5432/app",
            "https://example.com/path",
        ],
        ..id(
            "DATABASE_CONNECTION_STRING",
            Credentials,
            Matcher::Regex {
                anchors: &["://"],
                pattern: r"(?i:postgres|postgresql|mysql|mariadb|mongodb|mongodb\+srv|redis|rediss|amqp|amqps|mssql|sqlserver|oracle|jdbc:[a-z]+|couchdb|cockroachdb|clickhouse|neo4j|snowflake)://[^:/\s@\x22'<>]*:([^@/\s\x22'<>]{1,128})@[A-Za-z0-9_.\-]+",
                back: 32,
                fwd: 300,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "OPENAI_API_KEY=sk-proj-abcDEF1234567890ghijKLMNOPT3BlbkFJqrstuvWXYZ0987654321abcd",
        ],
        ..id(
            "OPENAI_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["T3BlbkFJ"],
                pattern: r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,}",
                back: 200,
                fwd: 200,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "ANTHROPIC_API_KEY=sk-ant-api03-jSq6OMjv1syXaEUE0bvOckLe_GtCKy8lvZdko3eOJgV8TH-f2iyzRekyZNSby5d9ScikGYuqQhsrxmXxQQ-A9n8nAAA",
        ],
        ..id(
            "ANTHROPIC_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["sk-ant-"],
                pattern: r"sk-ant-[a-z]{2,6}\d\d-[A-Za-z0-9_\-]{80,}",
                back: 0,
                fwd: 200,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "'SENDGRID_API_KEY': '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'",
        ],
        ..id(
            "SENDGRID_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["SG."],
                pattern: r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}",
                back: 0,
                fwd: 100,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["//registry.npmjs.org/:_authToken=npm_TCllNwh2WLQlMWVhybM1iQrsTj6rMQ0BOh6d"],
        ..id(
            "NPM_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["npm_"],
                pattern: r"npm_[A-Za-z0-9]{36}",
                back: 0,
                fwd: 40,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "password = pypi-AgEIcHlwaS5vcmcCJDkwNzYwNzU1LWMwOTUtNGNkOC1iYjQzLTU3OWNhZjI1NDQ1MwACJXsi",
        ],
        ..id(
            "PYPI_UPLOAD_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["pypi-AgE"],
                pattern: r"pypi-AgE[A-Za-z0-9_\-]{50,}",
                back: 0,
                fwd: 300,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["HF_TOKEN:\"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\""],
        ..id(
            "HUGGINGFACE_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["hf_"],
                pattern: r"hf_[A-Za-z0-9]{34,40}",
                back: 0,
                fwd: 44,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "token = \"dop_v1_ef0e04edc13918192246e0c90f0735c7f4db7a5a036a857e48d6cc98f1c9576b\"",
        ],
        ..id(
            "DIGITALOCEAN_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["dop_v1_", "doo_v1_", "dor_v1_"],
                pattern: r"do[opr]_v1_[a-f0-9]{64}",
                back: 0,
                fwd: 72,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["SHOP_PASSWORD=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"],
        ..id(
            "SHOPIFY_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["shp"],
                pattern: r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
                back: 0,
                fwd: 40,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "apikey: hvs.JGbZZaCkOSgsZ56uhGlTK2zyC1j2mwhy0VLp4",
            "VAULT_CLIENT_TOKEN=\"s.Z4bTMtngfLeQ18AqVoBBkUAOD1\"",
        ],
        ..id(
            "HASHICORP_VAULT_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["hvs.", "hvb.", "hvr.", "VAULT_"],
                pattern: r"(?:hv[sbr]\.[A-Za-z0-9_\-]{24,}|VAULT_(?:CLIENT_)?TOKEN\W{1,4}[sbr]\.[A-Za-z0-9]{24,})",
                back: 0,
                fwd: 200,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["docker login -u gemesa -p dckr_pat_hc8VxYclixyTr2rDFsa2rqzkP3Y"],
        ..id(
            "DOCKER_HUB_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["dckr_"],
                pattern: r"dckr_[po]at_[A-Za-z0-9_\-]{24,}",
                back: 0,
                fwd: 80,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["const CLIENTSECRET = \"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\""],
        ..id(
            "GOOGLE_OAUTH_CLIENT_SECRET",
            Credentials,
            Matcher::Regex {
                anchors: &["GOCSPX-"],
                pattern: r"GOCSPX-[A-Za-z0-9_\-]{28}",
                back: 0,
                fwd: 40,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "access_token: ya29.a0AfH6SMBx3kq0T9vZ_Qm5rN8pL2wY7uE4cV1bX6zR3tJ9sK0dF8gH2jL5",
        ],
        ..id(
            "GOOGLE_OAUTH_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["ya29."],
                pattern: r"ya29\.[A-Za-z0-9_\-]{30,}",
                back: 0,
                fwd: 2048,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "HOMEBREW_ARTIFACTORY_API_TOKEN=AKCp8igrDNFerC357m4422e4tmu7xB983QLPxJhKFcSMfoux2RFv3Zgk9Rq1y2jq8J5bYx3Z6",
        ],
        ..id(
            "ARTIFACTORY_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["AKCp"],
                pattern: r"AKCp[A-Za-z0-9]{64,80}",
                back: 0,
                fwd: 90,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["DATABRICKS_TOKEN: 'dapicd295a7be286969133e18a58e4afe7bd-3'"],
        ..id(
            "DATABRICKS_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["dapi"],
                pattern: r"dapi[a-f0-9]{32}(?:-\d)?",
                back: 0,
                fwd: 40,
            },
        )
    },
    ManagedIdentifier {
        examples: &["AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZQX"],
        ..id(
            "AGE_SECRET_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["AGE-SECRET-KEY-1"],
                pattern: r"AGE-SECRET-KEY-1[0-9A-Z]{52,64}",
                back: 0,
                fwd: 80,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "curl -H \"Authorization: Bearer glsa_HOruNAb7SOiCdshU7algkrq7FDsNSLAa_55e2f8be\"",
        ],
        ..id(
            "GRAFANA_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["glsa_", "glc_eyJ"],
                pattern: r"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_eyJ[A-Za-z0-9+/]{32,}={0,2})",
                back: 0,
                fwd: 400,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["PS> Get-NR1Catalog -PersonalAPIKey 'NRAK-7JHV3KQ9T2ZB8XW5LMRC4DPNF6A'"],
        ..id(
            "NEW_RELIC_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["NRAK-", "NRAA-", "NRII-", "NRIQ-", "NRJS-"],
                pattern: r"NR(?:AK|AA|II|IQ|JS)-[A-Za-z0-9_\-]{19,40}",
                back: 0,
                fwd: 50,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "('x-api-key', 'PMAK-629c73facbc064567cbf6970-f56e8b4cd0bb14d00962f17afc158dc2a2')",
        ],
        ..id(
            "POSTMAN_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["PMAK-"],
                pattern: r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
                back: 0,
                fwd: 70,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["TELEGRAM_TOKEN=4839574813:AAFD39kkdpWt3ywyRZergyOLMaJhac61qc0"],
        ..id(
            "TELEGRAM_BOT_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &[":AA"],
                pattern: r"\d{8,10}:AA[A-Za-z0-9_\-]{32,33}",
                back: 11,
                fwd: 40,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "app_secret: sq0csp-VQgEphNJFVxfoEtJ1M_2KaCesfzP2_ugNWnlMPwZaZk",
            "token sq0atp-qUlZzae8wVMc5P5NZdf5DA",
        ],
        ..id(
            "SQUARE_ACCESS_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["sq0"],
                pattern: r"(?:sq0atp-[A-Za-z0-9_\-]{22}|sq0csp-[A-Za-z0-9_\-]{43})",
                back: 0,
                fwd: 70,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "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",
            "GROQ_API_KEY=gsk_Rt9dJqXmP2vLs8NwKfYh3GcBzT4uAeWiOyDn5xMpQr6VjH1kSlFo0bEu",
        ],
        ..id(
            "API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &[
                    "tvly-",
                    "gsk_",
                    "jina_",
                    "aio_",
                    "odt_",
                    "rubygems_",
                    "hawk.",
                    "dp.",
                    "sgp_",
                    "lin_api_",
                    "xkeysib-",
                ],
                pattern: r"(?:tvly-[A-Za-z0-9]{32}|fc-[a-f0-9]{32}|gsk_[A-Za-z0-9]{48,56}|jina_[a-f0-9]{32}[A-Za-z0-9_\-]{30,}|aio_[A-Za-z0-9]{28}|odt_[A-Za-z0-9]{32}|rubygems_[a-f0-9]{48}|hawk\.[0-9A-Za-z_\-]{20}\.[0-9A-Za-z_\-]{20}|dp\.(?:ct|pt|st(?:\.[a-z0-9\-_]{2,35})?|sa|scim|audit)\.[A-Za-z0-9]{40,44}|sgp_(?:[a-fA-F0-9]{16}_)?[A-Za-z0-9]{40,64}|oy2[a-z0-9]{43}|pat-na1-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}|lin_api_[A-Za-z0-9]{40}|pul-[a-f0-9]{40}|rnd_[A-Za-z0-9]{32}|sntrys_eyJ[A-Za-z0-9+/=_\-]{40,}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16})",
                back: 0,
                fwd: 200,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "[Interface]\nAddress = 10.200.200.3/32\nPrivateKey = AsaFot43bfs1fEWjvtty+rGcjh3rP1H6sug1l3uRCwg=\n",
        ],
        ..id(
            "WIREGUARD_PRIVATE_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["PrivateKey", "PresharedKey"],
                pattern: r"(?:PrivateKey|PresharedKey)\s*=\s*([A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=)",
                back: 0,
                fwd: 80,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_bearer),
        examples: &[
            "GET /resource HTTP/1.1\nHost: server.example.com\nAuthorization: Bearer mF_9.B5f-4.1JqM\n",
        ],
        negative_examples: &[
            "Authorization: Bearer <token>",
            "Authorization: Bearer ${TOKEN}",
        ],
        ..id(
            "HTTP_BEARER_TOKEN",
            Credentials,
            Matcher::Regex {
                anchors: &["uthorization", "UTHORIZATION"],
                pattern: r#"(?i:authorization)["']?\s*[:=]\s*["']?(?i:bearer)\s+([A-Za-z0-9_\-\.~+/]{8,}=*)"#,
                back: 1,
                fwd: 2100,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &["MAILCHIMP_API='bd3777708aecfee66c5335f62a6246a4-us13'"],
        ..id(
            "MAILCHIMP_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["-us"],
                pattern: r"[0-9a-f]{32}-us[0-9]{1,2}",
                back: 32,
                fwd: 3,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_random),
        examples: &[
            "var apiKey = process.env.MAILGUN_API || 'key-46cebd38c59ac222e6cf991581411eaf'",
        ],
        ..id(
            "MAILGUN_API_KEY",
            Credentials,
            Matcher::Regex {
                anchors: &["key-"],
                pattern: r"key-[0-9a-f]{32}",
                back: 0,
                fwd: 32,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "url = 'https://outlook.office.com/webhook/9da5da9c-4218-4c22-aed6-b5c8baebfff5@2f2b54b7-0141-4ba7-8fcd-ab7d17a60547/IncomingWebhook/1bf66ccbb8e745e791fa6e6de0cf465b/4361420b-8fde-48eb-b62a-0e34fec63f5c'",
        ],
        ..id(
            "MICROSOFT_TEAMS_WEBHOOK",
            Credentials,
            Matcher::Regex {
                anchors: &["office.com/webhook"],
                pattern: r"(?:outlook\.office\.com|[a-z0-9\-]+\.webhook\.office\.com)/webhookb?2?/[a-f0-9\-]{36}@[a-f0-9\-]{36}/IncomingWebhook/[a-f0-9]{32}/[a-f0-9\-]{36}",
                back: 40,
                fwd: 300,
            },
        )
    },
    ManagedIdentifier {
        validator: Some(ok_db_password),
        examples: &[
            "<add key=\"ConnectionString_B2B\" value=\"Server=awsbman-t,1433;Database=B2B;User ID=b2buser;Password=Xk29!pLmq7;\"/>",
            "Data Source=tcp:sql01.internal;Initial Catalog=app;User Id=svc_app;Pwd=9vQe7r2TzY;",
        ],
        negative_examples: &[
            "Server=db;Database=app;User ID=sa;Password=;",
            "Server=db;User ID=sa;Password={0};",
        ],
        ..id(
            "DATABASE_CONNECTION_STRING",
            Credentials,
            Matcher::Regex {
                anchors: &["assword=", "ASSWORD=", "Pwd=", "pwd=", "PWD="],
                pattern: r"(?i:server|data source|host|hostname|uid|user id|user|username|database)\s*=[^;\x22'\r\n]{1,100};(?:[^;\x22'\r\n]{0,100};){0,6}\s*(?i:password|pwd)\s*=\s*([^;\x22'\s<>]{3,64})",
                back: 400,
                fwd: 80,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "password = \"Pass123!@#\"",
            "\"password\": \"x7Gq!2pLm\",",
            "DB_PASSWORD=Xk29pLmq7v\n",
            "my_password := \"super$ecret\"",
            "spring.datasource.password: Vr4!kq9Lz\n",
            "REACT_APP_AUTH_PASSWORD=whiteduke    # some comment",
        ],
        negative_examples: &[
            "password = \"changeme\"",
            "password = \"${DB_PASSWORD}\"",
            "password: <password>",
            "password = \"xxxxxxxx\"",
            "password = \"********\"",
            "password = \"test1234\"",
            "usernameLabel:\"Username or email:\",passwordLabel:\"Password:\"",
            "password = os.environ[\"DB_PASSWORD\"]",
            "password = super$ecret\n",
            "Password: see the vault entry for this host",
            "password = \"123\"",
            "this.addPassword = \"#add-password\";",
            "export PGPASSWORD=\"$gdcapi_db_password\"",
        ],
        ..id(
            "HARDCODED_PASSWORD",
            Credentials,
            Matcher::Assignment {
                anchors: &["assword", "ASSWORD", "pwd", "PWD", "Pwd"],
                suffixes: &["", "s", "1", "2", "_1", "_2"],
                strict: false,
            },
        )
    },
    ManagedIdentifier {
        examples: &[
            "    private static String CLIENT_SECRET = \"6fb1cff7690db9ac066cadbbde8e3c078efdabcf\";",
            "API_KEY = \"951bc382db9abad29c68634761dd6e19\"",
            "jwt:\n  secret: \"acb1ca5bc8d7fb2ef9f890f1be16d964\" #some comment\n",
        ],
        negative_examples: &[
            "secret: my-app-secret-name",
            "client_secret = \"your-client-secret\"",
            "API_KEY = \"<api key>\"",
            "secretName: db-credentials-2024",
        ],
        ..id(
            "HARDCODED_SECRET",
            Credentials,
            Matcher::Assignment {
                anchors: &["ecret", "ECRET", "api_key", "API_KEY", "apiKey", "ApiKey"],
                suffixes: &["", "s", "_key", "key", "-key"],
                strict: true,
            },
        )
    },
    // ---------------------------------------------------------------- financial
    ManagedIdentifier {
        keywords: CARD_KEYWORDS,
        keyword_rule: Boosts("CREDIT_CARD_NUMBER_(NO_KEYWORD)"),
        validator: Some(ok_luhn_card),
        examples: &[
            "credit card 4111 1111 1111 1111 exp 12/25",
            "CC# 5555-5555-5555-4444",
            "amex card 3782 822463 10005",
            "4242424242424242",
        ],
        negative_examples: &[
            "order number 4111111111111112",
            "4111 1111 1111 1111 1111 1111",
            "9111111111111119",
            "card 4111-1111-1111-1111-22",
        ],
        ..id(
            "CREDIT_CARD_NUMBER",
            Financial,
            Matcher::Shapes(&[
                "dddd~dddd~dddd~dddd",
                "dddd~dddd~dddd~dddd~ddd",
                "dddd~dddddd~ddddd",
                "dddd~dddddd~dddd",
                "dddd~dddd~dddd~d",
                "dddd~dddd~dddd~ddd",
                "dddd~dddd~dddd~dd",
                "ddddddddddddd",
                "dddddddddddddd",
                "ddddddddddddddd",
                "dddddddddddddddd",
                "ddddddddddddddddd",
                "dddddddddddddddddd",
                "ddddddddddddddddddd",
            ]),
        )
    },
    ManagedIdentifier {
        examples: &[
            "IBAN DE89 3704 0044 0532 0130 00",
            "ref GB82WEST12345698765432",
            "Kontonummer IBAN ES91 2100 0418 4502 0005 1332",
        ],
        negative_examples: &[
            "ref DE00370400440532013000",
            "DE89370400440532013001",
            "DE89 3704 0044 0532 0130 00 99",
        ],
        ..id("BANK_ACCOUNT_NUMBER", Financial, Matcher::Iban)
    },
    ManagedIdentifier {
        keywords: &[
            "bank account",
            "account number",
            "account no",
            "acct no",
            "acct num",
            "acct#",
            "acct #",
            "account#",
            "checking account",
            "savings account",
            "bank acct",
            "account num",
            "routing",
            "aba",
            "deposit account",
            "direct deposit",
            "compte bancaire",
            "numéro de compte",
            "transit",
        ],
        keyword_rule: Required,
        validator: Some(ok_bank),
        examples: &[
            "bank account number: 123456789012",
            "checking account 0012345678",
        ],
        negative_examples: &["order 123456789012", "account number 11111111"],
        ..id(
            "BANK_ACCOUNT_NUMBER",
            Financial,
            Matcher::Shapes(&[
                "dddddddd",
                "ddddddddd",
                "dddddddddd",
                "ddddddddddd",
                "dddddddddddd",
                "ddddddddddddd",
                "dddddddddddddd",
                "ddddddddddddddd",
                "dddddddddddddddd",
                "ddddddddddddddddd",
                "ddddd-ddd-ddddddd",
            ]),
        )
    },
    ManagedIdentifier {
        keywords: EXPIRY_KEYWORDS,
        keyword_rule: Required,
        validator: Some(ok_expiry),
        severity: SeverityRule::High,
        examples: &[
            "card 4111 1111 1111 1111 exp 12/25",
            "expiration date: 03/2027",
        ],
        negative_examples: &["ratio 12/25", "exp 13/25"],
        ..id(
            "CREDIT_CARD_EXPIRATION",
            Financial,
            Matcher::Shapes(&["dd/dd", "dd/dddd", "dd-dd", "dd-dddd"]),
        )
    },
    ManagedIdentifier {
        keywords: CVV_KEYWORDS,
        keyword_rule: Required,
        validator: Some(ok_cvv),
        examples: &["cvv: 123", "security code 4821"],
        negative_examples: &["code 123"],
        ..id(
            "CREDIT_CARD_SECURITY_CODE",
            Financial,
            Matcher::Shapes(&["ddd", "dddd"]),
        )
    },
    // ---------------------------------------------------------------- personal
    ManagedIdentifier {
        keywords: &[
            "ssn",
            "ssn#",
            "ss#",
            "ss #",
            "social security",
            "social sec",
            "soc sec",
            "ssa number",
            "social security number",
            "social",
        ],
        validator: Some(ok_ssn),
        examples: &[
            "SSN: 536-22-5181",
            "Employee Social Security 536 22 5181",
            "ssn 536225181",
        ],
        negative_examples: &[
            "ticket 666-88-4068 closed",
            "ref 536225181",
            "000-12-3456",
            "536-22-51811",
        ],
        ..id(
            "USA_SOCIAL_SECURITY_NUMBER",
            Personal,
            Matcher::Shapes(&["ddd-dd-dddd", "ddd dd dddd", "!ddddddddd"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "itin",
            "taxpayer identification",
            "tax id",
            "tax identification",
            "individual taxpayer",
        ],
        keyword_rule: Required,
        validator: Some(ok_itin),
        examples: &["ITIN: 912-70-1234"],
        negative_examples: &["912-70-1234", "ITIN: 912-40-1234"],
        ..id(
            "USA_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
            Personal,
            Matcher::Shapes(&["ddd-dd-dddd", "ddd dd dddd", "ddddddddd"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "nhs",
            "national health service",
            "health service number",
            "nhs number",
            "nhs no",
            "nhs#",
        ],
        keyword_rule: Required,
        validator: Some(ok_nhs),
        examples: &[
            "NHS number 943 476 5919",
            "nhs# 401-023-2137",
            "NHS no 9434765919",
        ],
        negative_examples: &["NHS number 943 476 5918", "ref 943 476 5919"],
        ..id(
            "UK_NHS_NUMBER",
            Personal,
            Matcher::Shapes(&["ddd~ddd~dddd", "dddddddddd"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "national insurance",
            "nino",
            "ni number",
            "ni no",
            "insurance number",
            "nat ins",
            "ni#",
            "nationalinsurance",
        ],
        keyword_rule: Required,
        validator: Some(ok_nino),
        examples: &[
            "NI number: AB 12 34 56 C",
            "National Insurance number: AB123456C",
        ],
        negative_examples: &["NI number: QQ 12 34 56 C", "AB 12 34 56 C"],
        ..id(
            "UK_NATIONAL_INSURANCE_NUMBER",
            Personal,
            Matcher::Shapes(&["LL dd dd dd L", "LLddddddL", "LL dddddd L", "LL-dd-dd-dd-L"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "sin",
            "social insurance",
            "insurance number",
            "numéro d'assurance sociale",
            "numéro d’assurance sociale",
            "assurance sociale",
            "nas",
            "sin#",
            "social ins",
        ],
        keyword_rule: Required,
        validator: Some(ok_sin),
        examples: &[
            "SIN 130 692 544",
            "social insurance number 130-692-544",
            "numéro d’assurance sociale 130692544",
        ],
        negative_examples: &["SIN 130 692 545", "ref 130 692 544"],
        ..id(
            "CANADA_SOCIAL_INSURANCE_NUMBER",
            Personal,
            Matcher::Shapes(&["ddd~ddd~ddd", "ddddddddd"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "aadhaar",
            "aadhar",
            "uidai",
            "uid",
            "adhaar",
            "आधार",
            "unique identification",
        ],
        keyword_rule: Required,
        validator: Some(ok_aadhaar),
        examples: &["Aadhaar 2341 2341 2346", "UIDAI number 234123412346"],
        negative_examples: &["Aadhaar 2341 2341 2347", "ref 2341 2341 2346"],
        ..id(
            "INDIA_AADHAAR_NUMBER",
            Personal,
            Matcher::Shapes(&["dddd~dddd~dddd", "dddddddddddd"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "cpf",
            "cadastro de pessoas",
            "cadastro de pessoa física",
            "pessoa fisica",
            "contribuinte",
            "cic",
        ],
        validator: Some(ok_cpf),
        examples: &["CPF 529.982.247-25", "cpf: 52998224725"],
        negative_examples: &["529.982.247-26", "52998224725"],
        ..id(
            "BRAZIL_CPF_NUMBER",
            Personal,
            Matcher::Shapes(&["ddd.ddd.ddd-dd", "!ddddddddddd", "!ddd ddd ddd dd"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "dni",
            "nif",
            "nie",
            "documento nacional de identidad",
            "documento de identidad",
            "número de identificación",
            "identidad",
            "dnie",
        ],
        keyword_rule: Required,
        validator: Some(ok_dni),
        examples: &[
            "DNI 12345678Z",
            "documento nacional de identidad 12345678-Z",
            "NIE X1234567L",
        ],
        negative_examples: &["DNI 12345678A", "ref 12345678Z"],
        ..id(
            "SPAIN_DNI_NUMBER",
            Personal,
            Matcher::Shapes(&[
                "ddddddddL",
                "dddddddd-L",
                "dddddddd L",
                "LdddddddL",
                "Lddddddd-L",
            ]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "passport",
            "passport number",
            "passport no",
            "passport#",
            "travel document",
            "pasaporte",
        ],
        keyword_rule: Required,
        validator: Some(ok_passport),
        examples: &[
            "passport number C03005988",
            "US passport 303005988",
            "passport no. 51099035",
        ],
        negative_examples: &["order C03005988", "passport number 111111111"],
        ..id(
            "USA_PASSPORT_NUMBER",
            Personal,
            Matcher::Shapes(&["Ldddddddd", "ddddddddd", "dddddddd"]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "driver's license",
            "drivers license",
            "driver license",
            "driver’s license",
            "driving licence",
            "dl#",
            "dl #",
            "dl no",
            "license number",
            "licence number",
            "dln",
            "lic#",
            "driver lic",
            "drivers lic",
        ],
        keyword_rule: Required,
        validator: Some(ok_drivers_license),
        recommended: true,
        examples: &["driver's license D7391528", "DL# 739152846"],
        negative_examples: &["license MIT", "ref D1234567"],
        ..id(
            "DRIVERS_LICENSE",
            Personal,
            Matcher::Shapes(&[
                "Lddddddd",
                "Ldddddddd",
                "Lddddddddd",
                "Lddddddddddd",
                "Ldddddddddddd",
                "LLdddddd",
                "ddddddd",
                "dddddddd",
                "ddddddddd",
                "ddd-ddd-ddd",
                "Lddd-dddd-dddd",
                "Ldddd-ddddd-ddddd",
                "Lddd-ddd-ddd-ddd",
            ]),
        )
    },
    ManagedIdentifier {
        keywords: &[
            "birth",
            "dob",
            "d.o.b",
            "born",
            "birthday",
            "birthdate",
            "b-day",
            "bday",
            "date of birth",
            "fecha de nacimiento",
            "nacimiento",
            "geburtsdatum",
            "geboren",
            "date de naissance",
            "né le",
            "née le",
            "data de nascimento",
            "nascimento",
            "data di nascita",
            "geboortedatum",
            "naissance",
        ],
        keyword_rule: Required,
        severity: SeverityRule::ByCount,
        examples: &[
            "DOB: 2008-09-10",
            "born on: 12/03/1980",
            "birthdate: 3 March 1975",
            "Date of birth: March 3, 1975",
        ],
        negative_examples: &[
            "2015-04-12T07:00:55 INFO worker",
            "DOB: 2008-13-10",
            "born in 1980",
        ],
        ..id("DATE_OF_BIRTH", Personal, Matcher::Date)
    },
    ManagedIdentifier {
        keywords: &[
            "phone",
            "telephone",
            "tel",
            "mobile",
            "cell",
            "fax",
            "call",
            "contact",
            "landline",
            "ph",
            "mob",
            "whatsapp",
            "téléphone",
            "teléfono",
            "telefono",
            "telefon",
            "handy",
            "portable",
            "celular",
        ],
        severity: SeverityRule::ByCount,
        examples: &[
            "phone +1 (212) 736-4455",
            "call +44 20 7183 8750",
            "tel (212) 736-4455",
            "mobile: 212.736.4455",
        ],
        negative_examples: &["version 212-736-4455", "+1 (555) 123", "order 2127364455"],
        ..id("PHONE_NUMBER", Personal, Matcher::Phone)
    },
    ManagedIdentifier {
        severity: SeverityRule::ByCount,
        examples: &[
            "contact jane.doe@example.com today",
            "From: arnaude82@example.org",
        ],
        negative_examples: &[
            "Comment: robert99@host",
            "write to support at example dot com",
            "user@localhost",
        ],
        ..id("EMAIL_ADDRESS", Personal, Matcher::Email)
    },
    ManagedIdentifier {
        keywords: &[
            "latitude",
            "longitude",
            "lat",
            "lng",
            "lon",
            "long",
            "coordinates",
            "coords",
            "gps",
            "location",
            "geo",
        ],
        keyword_rule: Required,
        severity: SeverityRule::ByCount,
        recommended: false,
        examples: &["coordinates: 40.748817, -73.985428", "gps 51.5007,-0.1246"],
        negative_examples: &["version 40.748817, -73.985428", "coordinates: 140.7, 373.9"],
        ..id("LATITUDE_LONGITUDE", Personal, Matcher::LatLong)
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes() {
        assert_eq!(
            base64_decode(b"QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap(),
            b"Aladdin:open sesame"
        );
        assert!(base64_decode(b"not base64!").is_none());
    }

    #[test]
    fn table_is_well_formed() {
        for ident in managed() {
            assert!(!ident.name.is_empty());
            if ident.keyword_rule != KeywordRule::Optional {
                assert!(!ident.keywords.is_empty(), "{} needs keywords", ident.name);
            }
            if let Matcher::Shapes(shapes) = ident.matcher {
                for s in shapes {
                    let s = s.trim_start_matches('!');
                    assert!(
                        s.contains('d') || s.is_empty(),
                        "{}: shape {s} has no digit",
                        ident.name
                    );
                }
            }
        }
    }
}
