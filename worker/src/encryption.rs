//! Recognising how an object is encrypted: client-side envelopes, encrypted-file headers and
//! KMS keys.
//!
//! - [`client_side_envelope`]: the S3 Encryption Client's metadata (format v1 `x-amz-key`, v2
//!   `x-amz-key-v2`/`x-amz-wrap-alg`/`x-amz-cek-alg`/`x-amz-matdesc`, v3's compressed
//!   `x-amz-c`/`x-amz-3`/`x-amz-w`/`x-amz-m`/`x-amz-t`), with the wrapping algorithm and the KMS
//!   key its material description names.
//! - [`instruction_file`]: the same envelope stored in a separate `<key>.instruction` object.
//! - [`sniff`]: the first bytes of a body: the AWS Encryption SDK message header (v1 and v2),
//!   OpenPGP (binary packets and ASCII armour) and age (binary and armoured).
//! - [`KmsKeyCache`]: DescribeKey per key, with the worker's credentials for the object's
//!   account, cached per job for [`KMS_KEY_TTL`]; key IDs and aliases become key ARNs.
//!
//! Everything here but the cache is pure and synchronous.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a DescribeKey answer is trusted. A key disabled mid-job is noticed within this
/// time; S3 itself refuses the reads at once, so only the recorded state can lag.
pub const KMS_KEY_TTL: Duration = Duration::from_secs(300);

/// How many leading bytes [`sniff`] needs at most to recognise a header.
pub const SNIFF_BYTES: usize = 64;

/// Largest `.instruction` object read whole to check that it holds an envelope.
pub const INSTRUCTION_FILE_MAX_BYTES: usize = 64 * 1024;

/// A client-side encryption envelope, as recognised from metadata, an instruction file or the
/// first bytes of a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSide {
    /// The scheme, e.g. "S3 Encryption Client v2", "AWS Encryption SDK v1", "OpenPGP", "age".
    pub scheme: String,
    /// Key wrapping algorithm (`kms`, `kms+context`, `AES/GCM`, `RSA-OAEP-SHA1`, …).
    pub wrapping_algorithm: Option<String>,
    /// Content encryption algorithm (`AES/GCM/NoPadding`, `AES/CBC/PKCS5Padding`, `115`).
    pub content_algorithm: Option<String>,
    /// Material description (or KMS encryption context), as stored.
    pub material_description: Option<String>,
    /// KMS key named by the material description (`kms_cmk_id`), as stored.
    pub kms_key_id: Option<String>,
}

/// Returns the S3 Encryption Client envelope in an object's user metadata (prefix stripped),
/// if there is one.
pub fn client_side_envelope(metadata: &HashMap<String, String>) -> Option<ClientSide> {
    let get = |name: &str| metadata.get(name).cloned();
    let (scheme, wrapping_algorithm, content_algorithm, material_description) =
        if metadata.contains_key("x-amz-c") || metadata.contains_key("x-amz-3") {
            let wrap = get("x-amz-w").map(|w| v3_wrapping_algorithm(&w));
            (
                "S3 Encryption Client v3",
                wrap,
                get("x-amz-c"),
                get("x-amz-m").or(get("x-amz-t")),
            )
        } else if metadata.contains_key("x-amz-key-v2") || metadata.contains_key("x-amz-cek-alg") {
            (
                "S3 Encryption Client v2",
                get("x-amz-wrap-alg"),
                get("x-amz-cek-alg"),
                get("x-amz-matdesc"),
            )
        } else if metadata.contains_key("x-amz-key") {
            // v1 records no wrapping algorithm: a `kms_cmk_id` in the material description means
            // KMS, anything else a symmetric or asymmetric master key held by the client.
            ("S3 Encryption Client v1", None, None, get("x-amz-matdesc"))
        } else {
            return None;
        };
    let kms_key_id = material_description.as_deref().and_then(material_kms_key);
    let wrapping_algorithm =
        wrapping_algorithm.or_else(|| kms_key_id.as_ref().map(|_| "kms".into()));
    Some(ClientSide {
        scheme: scheme.into(),
        wrapping_algorithm,
        content_algorithm,
        material_description,
        kms_key_id,
    })
}

/// Translates v3's two-digit wrapping algorithm codes to the v2 names.
fn v3_wrapping_algorithm(code: &str) -> String {
    match code {
        "02" => "AES/GCM".into(),
        "12" => "kms+context".into(),
        "22" => "RSA-OAEP-SHA1".into(),
        other => other.into(),
    }
}

/// Returns the KMS key a material description (JSON) names, if any.
fn material_kms_key(material_description: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(material_description).ok()?;
    value
        .get("kms_cmk_id")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Returns the envelope an instruction file (`<key>.instruction`, a JSON object of the same
/// map keys as the metadata, unprefixed) holds, if `body` is one.
pub fn instruction_file(body: &[u8]) -> Option<ClientSide> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let map: HashMap<String, String> = value
        .as_object()?
        .iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k.clone(), s.clone())),
            serde_json::Value::Null => None,
            other => Some((k.clone(), other.to_string())),
        })
        .collect();
    let envelope = client_side_envelope(&map)?;
    Some(ClientSide {
        scheme: format!("{} instruction file", envelope.scheme),
        ..envelope
    })
}

/// AWS Encryption SDK algorithm suite IDs of message format v1.
const ESDK_V1_SUITES: [u16; 9] = [
    0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378,
];
/// AWS Encryption SDK algorithm suite IDs of message format v2 (key commitment).
const ESDK_V2_SUITES: [u16; 2] = [0x0478, 0x0578];

/// Returns the client-side scheme the first bytes of a body reveal, if any.
pub fn sniff(prefix: &[u8]) -> Option<&'static str> {
    let text_start = trim_ascii_start(prefix);
    if text_start.starts_with(b"-----BEGIN PGP MESSAGE-----") {
        return Some("OpenPGP (ASCII armor)");
    }
    if text_start.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        return Some("age (ASCII armor)");
    }
    if prefix.starts_with(b"age-encryption.org/v1\n") {
        return Some("age");
    }
    if let [0x01, 0x80, hi, lo, ..] = prefix
        && ESDK_V1_SUITES.contains(&u16::from_be_bytes([*hi, *lo]))
        && prefix.len() >= 22
    {
        return Some("AWS Encryption SDK v1");
    }
    if let [0x02, hi, lo, ..] = prefix
        && ESDK_V2_SUITES.contains(&u16::from_be_bytes([*hi, *lo]))
        && prefix.len() >= 37
    {
        return Some("AWS Encryption SDK v2");
    }
    if openpgp_encrypted(prefix) {
        return Some("OpenPGP");
    }
    None
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Returns whether `prefix` opens with an OpenPGP encrypted-session-key packet (a public-key
/// one, tag 1, versions 3 or 6; or a symmetric one, tag 3, versions 4 to 6), in the old or the
/// new packet format. Those packets start every encrypted OpenPGP message.
fn openpgp_encrypted(prefix: &[u8]) -> bool {
    let Some(&first) = prefix.first() else {
        return false;
    };
    if first & 0x80 == 0 {
        return false;
    }
    let (tag, body_offset) = if first & 0x40 != 0 {
        // New format: tag in the low six bits; one-, two- or five-octet length.
        let tag = first & 0x3f;
        let offset = match prefix.get(1) {
            Some(0..=191) => 2,
            Some(192..=223) => 3,
            Some(255) => 6,
            _ => return false,
        };
        (tag, offset)
    } else {
        // Old format: tag in bits 5-2; length type in bits 1-0 (3 = indeterminate).
        let tag = (first >> 2) & 0x0f;
        let offset = match first & 0x03 {
            0 => 2,
            1 => 3,
            2 => 5,
            _ => return false,
        };
        (tag, offset)
    };
    let Some(&version) = prefix.get(body_offset) else {
        return false;
    };
    match tag {
        1 => matches!(version, 3 | 6) && prefix.len() > body_offset + 9,
        3 => matches!(version, 4..=6) && prefix.len() > body_offset + 2,
        _ => false,
    }
}

/// A KMS key as the worker's role sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KmsKeyInfo {
    /// Key ARN (from DescribeKey, or built from the key ID, the account and the region).
    pub arn: String,
    /// Key state (`Enabled`, `Disabled`, `PendingDeletion`, …), `NotFound`, `AccessDenied`, or
    /// empty when DescribeKey could not be asked.
    pub state: String,
}

/// (job ID, role ARN or "" for the master, key ID as S3 reported it).
type KmsKeyCacheKey = (String, String, String);

/// DescribeKey answers, per (job, role, key as given), kept for [`KMS_KEY_TTL`].
#[derive(Debug, Default)]
pub struct KmsKeyCache {
    entries: Mutex<HashMap<KmsKeyCacheKey, (KmsKeyInfo, Instant)>>,
}

impl KmsKeyCache {
    /// Returns what DescribeKey says about `key_id` (an ID, alias or ARN as S3 reported it)
    /// with `kms`, the worker's KMS client for the bucket's account. Definite answers (a state,
    /// NotFound, AccessDenied) are cached; transient failures are not.
    pub async fn describe(
        &self,
        kms: &aws_sdk_kms::Client,
        job_id: &str,
        role: &str,
        key_id: &str,
        account: &str,
    ) -> KmsKeyInfo {
        let cache_key = (job_id.to_string(), role.to_string(), key_id.to_string());
        if let Some((info, at)) = self
            .entries
            .lock()
            .expect("the KMS key cache lock should not be poisoned")
            .get(&cache_key)
            && at.elapsed() < KMS_KEY_TTL
        {
            return info.clone();
        }
        let key = trawl_common::aws::describe_kms_key(kms, key_id, account).await;
        if let Some(error) = &key.error {
            tracing::warn!(key_id, error = %error, "kms describe key failed");
        }
        let definite = key.error.is_none();
        let info = KmsKeyInfo {
            arn: key.arn,
            state: key.state,
        };
        if definite {
            self.entries
                .lock()
                .expect("the KMS key cache lock should not be poisoned")
                .insert(cache_key, (info.clone(), Instant::now()));
        }
        info
    }
}

/// Returns the KMS key ARN an error message names (`… on resource: arn:aws:kms:…`,
/// `arn:aws:kms:… is disabled.`), if any.
pub fn key_arn_in_message(message: &str) -> Option<String> {
    let start = message.find("arn:aws:kms:")?;
    let arn: String = message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '-' | '_'))
        .collect();
    Some(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn s3_encryption_client_envelopes_are_recognised_per_format() {
        let v1 = client_side_envelope(&metadata(&[
            ("x-amz-key", "AQID"),
            ("x-amz-iv", "BAUG"),
            ("x-amz-matdesc", r#"{"kms_cmk_id":"alias/payroll"}"#),
        ]))
        .unwrap();
        assert_eq!(v1.scheme, "S3 Encryption Client v1");
        assert_eq!(v1.wrapping_algorithm.as_deref(), Some("kms"));
        assert_eq!(v1.kms_key_id.as_deref(), Some("alias/payroll"));

        let v2 = client_side_envelope(&metadata(&[
            ("x-amz-key-v2", "AQID"),
            ("x-amz-iv", "BAUG"),
            ("x-amz-wrap-alg", "kms+context"),
            ("x-amz-cek-alg", "AES/GCM/NoPadding"),
            (
                "x-amz-matdesc",
                r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding","kms_cmk_id":"arn:aws:kms:us-east-1:111111111111:key/k"}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(v2.scheme, "S3 Encryption Client v2");
        assert_eq!(v2.wrapping_algorithm.as_deref(), Some("kms+context"));
        assert_eq!(v2.content_algorithm.as_deref(), Some("AES/GCM/NoPadding"));
        assert_eq!(
            v2.kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:111111111111:key/k")
        );

        let v3 = client_side_envelope(&metadata(&[
            ("x-amz-c", "115"),
            ("x-amz-3", "AQID"),
            ("x-amz-w", "02"),
            ("x-amz-m", r#"{"purpose":"test"}"#),
            ("x-amz-d", "AA=="),
            ("x-amz-i", "AA=="),
        ]))
        .unwrap();
        assert_eq!(v3.scheme, "S3 Encryption Client v3");
        assert_eq!(v3.wrapping_algorithm.as_deref(), Some("AES/GCM"));
        assert_eq!(
            v3.material_description.as_deref(),
            Some(r#"{"purpose":"test"}"#)
        );
        assert_eq!(v3.kms_key_id, None);

        assert!(client_side_envelope(&metadata(&[("owner", "finance")])).is_none());
    }

    #[test]
    fn instruction_files_hold_an_envelope() {
        let body = br#"{"x-amz-key-v2":"AQID","x-amz-iv":"BAUG","x-amz-wrap-alg":"AES/GCM","x-amz-cek-alg":"AES/GCM/NoPadding","x-amz-matdesc":"{}"}"#;
        let envelope = instruction_file(body).unwrap();
        assert_eq!(envelope.scheme, "S3 Encryption Client v2 instruction file");
        assert_eq!(envelope.wrapping_algorithm.as_deref(), Some("AES/GCM"));
        assert!(instruction_file(br#"{"name":"x"}"#).is_none());
        assert!(instruction_file(b"not json").is_none());
    }

    #[test]
    fn encrypted_file_headers_are_sniffed() {
        let mut esdk_v1 = vec![0x01, 0x80, 0x03, 0x78];
        esdk_v1.extend_from_slice(&[7; 40]);
        assert_eq!(sniff(&esdk_v1), Some("AWS Encryption SDK v1"));
        let mut esdk_v2 = vec![0x02, 0x05, 0x78];
        esdk_v2.extend_from_slice(&[7; 40]);
        assert_eq!(sniff(&esdk_v2), Some("AWS Encryption SDK v2"));
        assert_eq!(
            sniff(b"age-encryption.org/v1\n-> X25519 abc\n"),
            Some("age")
        );
        assert_eq!(
            sniff(b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n"),
            Some("age (ASCII armor)")
        );
        assert_eq!(
            sniff(b"\n-----BEGIN PGP MESSAGE-----\n\nhQEMA"),
            Some("OpenPGP (ASCII armor)")
        );
        // Old-format PKESK (tag 1, two-octet length), version 3, key ID, algorithm.
        let mut pgp_old = vec![0x85, 0x01, 0x0c, 0x03];
        pgp_old.extend_from_slice(&[0xab; 20]);
        assert_eq!(sniff(&pgp_old), Some("OpenPGP"));
        // New-format SKESK (tag 3), version 4, cipher, S2K.
        assert_eq!(
            sniff(&[0xc3, 0x0d, 0x04, 0x09, 0x03, 0x08]),
            Some("OpenPGP")
        );
        // Plain text, a ZIP, a gzip, a PNG and an ESDK look-alike with an unknown suite are not.
        for plain in [
            &b"name,ssn\nalice,123-45-6789\n"[..],
            b"PK\x03\x04\x14\x00\x00\x00",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
            &[
                0x01, 0x80, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            b"",
        ] {
            assert_eq!(sniff(plain), None, "{plain:?}");
        }
    }

    #[test]
    fn key_ids_and_aliases_become_arns() {
        assert_eq!(
            trawl_common::aws::kms_key_arn("1234abcd-12ab", "eu-west-1", "111111111111"),
            "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab"
        );
        assert_eq!(
            trawl_common::aws::kms_key_arn("alias/payroll", "eu-west-1", "111111111111"),
            "arn:aws:kms:eu-west-1:111111111111:alias/payroll"
        );
        let arn = "arn:aws:kms:us-east-1:222222222222:key/k";
        assert_eq!(
            trawl_common::aws::kms_key_arn(arn, "eu-west-1", "111111111111"),
            arn
        );
        assert_eq!(
            key_arn_in_message(
                "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: kms:Decrypt \
                 on resource: arn:aws:kms:us-east-1:1:key/abc-123 because no policy allows it"
            )
            .as_deref(),
            Some("arn:aws:kms:us-east-1:1:key/abc-123")
        );
        assert_eq!(
            key_arn_in_message("arn:aws:kms:us-east-1:1:key/abc is disabled.").as_deref(),
            Some("arn:aws:kms:us-east-1:1:key/abc")
        );
    }
}
