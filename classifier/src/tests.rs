//! Engine-level tests: identifier examples, keywords per format, streaming, configuration.

use super::*;
use crate::identifiers::managed;

fn kinds(r: &FileResult) -> Vec<(&str, u64)> {
    r.detections
        .iter()
        .map(|d| (d.kind.as_str(), d.count))
        .collect()
}

fn all_engine() -> Engine {
    selection_engine(SelectionMode::All)
}

/// An engine with the managed `selection` and no listed identifiers.
fn selection_engine(selection: SelectionMode) -> Engine {
    Engine::new(&ClassifierConfig {
        managed: ManagedSelection {
            selection,
            identifiers: vec![],
        },
        ..Default::default()
    })
    .unwrap()
}

fn family(name: &str) -> &str {
    if name.ends_with("BANK_ACCOUNT_NUMBER") {
        "BANK_ACCOUNT_NUMBER"
    } else if name.starts_with("CREDIT_CARD_NUMBER") {
        "CREDIT_CARD_NUMBER"
    } else {
        name
    }
}

#[test]
fn every_identifier_example_is_detected_and_no_negative_is() {
    let engine = all_engine();
    let mut failures = Vec::new();
    for ident in managed() {
        for ex in ident.examples {
            let r = engine.classify_bytes("example.txt", ex.as_bytes());
            if !r
                .detections
                .iter()
                .any(|d| family(&d.kind) == family(ident.name))
            {
                failures.push(format!(
                    "{}: missed example {ex:?} (got {:?})",
                    ident.name,
                    kinds(&r)
                ));
            }
        }
        for ex in ident.negative_examples {
            let r = engine.classify_bytes("example.txt", ex.as_bytes());
            if r.detections
                .iter()
                .any(|d| family(&d.kind) == family(ident.name))
            {
                failures.push(format!("{}: flagged negative {ex:?}", ident.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn findings_never_contain_the_value() {
    let engine = Engine::default();
    let r = engine.classify_bytes("a.txt", b"SSN: 536-22-5181\nmail jane@example.com\n");
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("536-22-5181"));
    assert!(!json.contains("jane@example.com"));
}

fn count(r: &FileResult, kind: &str) -> u64 {
    r.detections
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.count)
        .sum()
}

/// A reader that returns at most `step` bytes per call, to exercise chunk refills.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn value_across_a_chunk_edge_is_found_exactly_once() {
    let engine = Engine::default();
    let chunk = 1usize << 20;
    let hold = 16usize << 10;
    // Place values so each straddles the first report boundary (chunk end minus the hold).
    for offset in [
        chunk - hold - 5,
        chunk - hold - 1,
        chunk - hold,
        chunk - 3,
        chunk + 7,
    ] {
        let mut data = vec![b'x'; offset];
        data.extend_from_slice(b" SSN 536-22-5181 mail jane@example.com ");
        data.extend(std::iter::repeat_n(b'y', chunk));
        data.extend_from_slice(b"\nssn: 536-22-5181\n");
        let r = engine.classify_reader(
            "big.txt",
            &mut Trickle {
                data: &data,
                step: 70_000,
            },
        );
        assert_eq!(
            count(&r, "USA_SOCIAL_SECURITY_NUMBER"),
            2,
            "offset {offset}"
        );
        assert_eq!(count(&r, "EMAIL_ADDRESS"), 1, "offset {offset}");
        assert_eq!(r.size_classified, data.len() as u64);
        let lines = &r
            .detections
            .iter()
            .find(|d| d.kind == "USA_SOCIAL_SECURITY_NUMBER")
            .unwrap()
            .occurrences
            .line_ranges;
        assert_eq!(lines[0].start, 1);
        assert_eq!(lines[1].start, 2);
    }
}

#[test]
fn pem_key_across_a_chunk_edge_counts_once() {
    let engine = Engine::default();
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAo+d6kR4fV9pnWpTVRJFEQKQLNy3rUxCF0p8TuvpqQfQO0Qdk\n-----END RSA PRIVATE KEY-----\n";
    for offset in [(1 << 20) - (16 << 10) - 10, (1 << 20) - 20] {
        let mut data = vec![b' '; offset];
        data.extend_from_slice(key.as_bytes());
        data.extend(std::iter::repeat_n(b'z', 1 << 20));
        let r = engine.classify_reader("k.txt", &mut &data[..]);
        assert_eq!(count(&r, "PKCS"), 1, "offset {offset}");
    }
}

#[test]
fn keyword_rules_in_text() {
    let engine = Engine::default();
    // NHS numbers need a keyword within 30 characters before.
    assert_eq!(
        count(
            &engine.classify_bytes("a.txt", b"NHS number 943 476 5919\n"),
            "UK_NHS_NUMBER"
        ),
        1
    );
    assert_eq!(
        count(
            &engine.classify_bytes("a.txt", b"reference 943 476 5919\n"),
            "UK_NHS_NUMBER"
        ),
        0
    );
    let far = format!("NHS {} 943 476 5919\n", "z".repeat(40));
    assert_eq!(
        count(
            &engine.classify_bytes("a.txt", far.as_bytes()),
            "UK_NHS_NUMBER"
        ),
        0
    );
    // Case-insensitive; a space in a keyword also matches `_`, `-` or nothing.
    for text in [
        "DATE OF BIRTH: 1980-04-12",
        "date_of_birth=1980-04-12",
        "date-of-birth 1980-04-12",
        "dateofbirth 1980-04-12",
    ] {
        assert_eq!(
            count(
                &engine.classify_bytes("a.txt", text.as_bytes()),
                "DATE_OF_BIRTH"
            ),
            1,
            "{text}"
        );
    }
    // A keyword inside a longer word does not count.
    assert_eq!(
        count(
            &engine.classify_bytes("a.txt", b"hotel 212-736-4455"),
            "PHONE_NUMBER"
        ),
        0
    );
    // Cards: keyword selects the name, Luhn and issuer decide the match.
    let r = engine.classify_bytes("a.txt", b"visa 4111 1111 1111 1111\nref 4111111111111111\n");
    assert_eq!(count(&r, "CREDIT_CARD_NUMBER"), 1);
    assert_eq!(count(&r, "CREDIT_CARD_NUMBER_(NO_KEYWORD)"), 1);
}

#[test]
fn keyword_rules_in_csv_and_tsv() {
    let engine = Engine::default();
    let csv = b"id,nhs_number,note\n1,9434765919,x\n2,4010232137,\"NHS 943 476 5919\"\n";
    let r = engine.classify_bytes("people.csv", csv);
    assert_eq!(count(&r, "UK_NHS_NUMBER"), 3);
    let cells = &r.detections[0].occurrences.cells;
    assert_eq!(
        (cells[0].row, cells[0].column, cells[0].column_name.as_str()),
        (2, 2, "nhs_number")
    );
    // Without the column keyword the value needs one in its own cell.
    let r = engine.classify_bytes("people.csv", b"id,ref\n1,9434765919\n");
    assert_eq!(count(&r, "UK_NHS_NUMBER"), 0);
    let tsv = b"order_ref\tdate_of_birth\n4981491193339803\t1973-04-15\n";
    let r = engine.classify_bytes("x.tsv", tsv);
    assert_eq!(kinds(&r), vec![("DATE_OF_BIRTH", 1)]);
}

#[test]
fn cells_of_free_text_use_the_text_rule() {
    let engine = Engine::default();
    // A label with its value: a keyword anywhere in the cell counts.
    let r = engine.classify_bytes("x.csv", b"id,ref\n1,SSN 536225181\n2,536225181 (ssn)\n");
    assert_eq!(count(&r, "USA_SOCIAL_SECURITY_NUMBER"), 2);
    let r = engine.classify_bytes("x.json", br#"{"ref": "536225181 (ssn)"}"#);
    assert_eq!(count(&r, "USA_SOCIAL_SECURITY_NUMBER"), 1);
    // Free text: the keyword must be within 30 characters before the value.
    let csv = b"id,notes\n1,\"Passport copy requested, will follow up once order 48213955 has shipped\"\n2,\"Security code emailed separately. Parcel weight 248 g, locker 4530\"\n";
    let r = engine.classify_bytes("x.csv", csv);
    assert_eq!(kinds(&r), vec![]);
    let json = br#"{"customer": {"notes": "Called re: card declined at POS, asked to re-enter the CVV. Case was escalated to the billing queue 214"}}"#;
    let r = engine.classify_bytes("x.json", json);
    assert_eq!(kinds(&r), vec![]);
    let csv =
        b"id,notes\n1,\"Long note about the customer account; passport no. C03005988 on file\"\n";
    let r = engine.classify_bytes("x.csv", csv);
    assert_eq!(count(&r, "USA_PASSPORT_NUMBER"), 1);
    // Column names still count.
    let r = engine.classify_bytes("x.csv", b"id,cvv\n1,214\n");
    assert_eq!(count(&r, "CREDIT_CARD_SECURITY_CODE"), 1);
}

#[test]
fn keyword_rules_in_json_and_jsonl() {
    let engine = Engine::default();
    let json = br#"{"customers": [{"nhs": {"value": "9434765919"}, "ref": "9434765919", "dob": 19800412}]}"#;
    let r = engine.classify_bytes("x.json", json);
    assert_eq!(count(&r, "UK_NHS_NUMBER"), 1);
    let rec = &r
        .detections
        .iter()
        .find(|d| d.kind == "UK_NHS_NUMBER")
        .unwrap()
        .occurrences
        .records[0];
    assert_eq!(rec.json_path, "$.customers[0].nhs.value");
    assert_eq!(rec.record_index, 0);
    assert_eq!(count(&r, "DATE_OF_BIRTH"), 1);
    let jsonl =
        b"{\"email\": \"a@example.com\"}\n{\"ssn\": \"536-22-5181\"}\nnot json ssn 536-22-5181\n";
    let r = engine.classify_bytes("x.jsonl", jsonl);
    assert_eq!(count(&r, "USA_SOCIAL_SECURITY_NUMBER"), 2);
    let recs = &r
        .detections
        .iter()
        .find(|d| d.kind == "USA_SOCIAL_SECURITY_NUMBER")
        .unwrap()
        .occurrences
        .records;
    assert_eq!(
        (recs[0].record_index, recs[0].json_path.as_str()),
        (1, "$.ssn")
    );
    assert_eq!(recs[1].record_index, 2);
    // Invalid JSON falls back to text.
    let r = engine.classify_bytes("broken.json", b"{\"ssn\": \"536-22-5181\"");
    assert_eq!(count(&r, "USA_SOCIAL_SECURITY_NUMBER"), 1);
}

#[test]
fn severity_follows_the_table() {
    let engine = Engine::default();
    let r = engine.classify_bytes("a.txt", b"phone +1 (212) 736-4455\n");
    assert_eq!(r.detections[0].severity, Severity::Low);
    let two = engine.classify_bytes(
        "a.txt",
        b"phone +1 (212) 736-4455\ncall +1 (212) 736-4456\n",
    );
    assert_eq!(two.detections[0].severity, Severity::Medium);
    let many: String = (0..100).map(|i| format!("u{i}@example.com\n")).collect();
    let r = engine.classify_bytes("a.txt", many.as_bytes());
    assert_eq!(
        (r.detections[0].count, r.detections[0].severity),
        (100, Severity::High)
    );
    let r = engine.classify_bytes("a.txt", b"SSN: 536-22-5181");
    assert_eq!(r.severity, Some(Severity::High));
}

#[test]
fn occurrences_are_capped_at_one_thousand() {
    let engine = Engine::default();
    let text: String = (0..1500)
        .map(|i| format!("user{i}@example.com\n"))
        .collect();
    let r = engine.classify_bytes("a.txt", text.as_bytes());
    assert_eq!(r.detections[0].count, 1500);
    assert_eq!(r.detections[0].occurrences.line_ranges.len(), 1000);
    assert_eq!(r.detections[0].occurrences.line_ranges[999].start, 1000);
}

#[test]
fn credentials_rules() {
    let engine = Engine::default();
    assert!(
        engine
            .classify_bytes("a.txt", b"STRIPE_TEST_KEY=sk_test_zDzV8fUkkibjL5DZPjN0MEQ7")
            .detections
            .is_empty()
    );
    assert!(engine.classify_bytes("a.txt", b"-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n").detections.is_empty());
    // One AWS detection per secret key, the key ID being part of it.
    let two = b"[a]\naws_access_key_id = AKIA44W6RVYI5BFXSJWU\naws_secret_access_key = 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\n\
                [b]\naws_access_key_id = AKIAM7JO6R5AGZQPSGSD\naws_secret_access_key = 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\n";
    assert_eq!(
        count(&engine.classify_bytes("creds", two), "AWS_CREDENTIALS"),
        2
    );
    // A git commit hash next to a key ID is not a secret.
    let sha = b"AKIA44W6RVYI5BFXSJWU commit 6bf48fa2cf206d5a52134365c6b426bd780b8ae2";
    assert_eq!(
        count(&engine.classify_bytes("a.txt", sha), "AWS_CREDENTIALS"),
        0
    );
}

#[test]
fn config_from_toml() {
    let config = ClassifierConfig::from_toml_str(
        r#"
        [managed]
        selection = "EXCLUDE"
        identifiers = ["EMAIL_ADDRESS"]

        [[custom_identifiers]]
        name = "EMPLOYEE_ID"
        regex = "EMP-[0-9]{6}"
        keywords = ["employee"]
        ignore_words = ["EMP-000000"]
        maximum_match_distance = 20
        severity_levels = [{ occurrences_threshold = 1, severity = "LOW" }, { occurrences_threshold = 3, severity = "HIGH" }]

        [[allow_lists]]
        name = "test-cards"
        texts = ["4111 1111 1111 1111"]
        regex = "^536-22-"
        "#,
    )
    .unwrap();
    let engine = Engine::new(&config).unwrap();
    let text =
        b"employee EMP-123456\nemployee EMP-000000\nEMP-654321 no keyword\nmail a@example.com\n\
                 card 4111 1111 1111 1111\nSSN 536-22-5181\nSSN 123-45-6780\n";
    let r = engine.classify_bytes("a.txt", text);
    assert_eq!(
        kinds(&r),
        vec![("EMPLOYEE_ID", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    let emp = &r.detections[0];
    assert_eq!(
        (emp.category.as_str(), emp.severity),
        ("CUSTOM_IDENTIFIER", Severity::Low)
    );
    let three = engine.classify_bytes(
        "a.txt",
        b"employee EMP-123456 employee EMP-123457 employee EMP-123458",
    );
    assert_eq!(three.detections[0].severity, Severity::High);
}

#[test]
fn keyword_distance_for_custom_identifiers() {
    let config = ClassifierConfig {
        custom_identifiers: vec![CustomIdentifierConfig {
            name: "TICKET".into(),
            regex: "T-[0-9]{4}".into(),
            keywords: vec!["ticket id".into()],
            ignore_words: vec![],
            maximum_match_distance: 5,
            severity_levels: vec![],
        }],
        ..Default::default()
    };
    let engine = Engine::new(&config).unwrap();
    assert_eq!(
        count(
            &engine.classify_bytes("a.txt", b"TICKET_ID: T-1234"),
            "TICKET"
        ),
        1
    );
    assert_eq!(
        count(
            &engine.classify_bytes("a.txt", b"ticket id is here: T-1234"),
            "TICKET"
        ),
        0
    );
}

#[test]
fn config_errors_name_the_culprit() {
    let bad_regex = ClassifierConfig::from_toml_str(
        "[[custom_identifiers]]\nname = \"BAD\"\nregex = \"([a-z\"\n",
    )
    .unwrap();
    let err = Engine::new(&bad_regex).unwrap_err().to_string();
    assert!(err.contains("BAD"), "{err}");
    let bad_distance = ClassifierConfig::from_toml_str(
        "[[custom_identifiers]]\nname = \"FAR\"\nregex = \"x\"\nmaximum_match_distance = 301\n",
    )
    .unwrap();
    let err = Engine::new(&bad_distance).unwrap_err().to_string();
    assert!(
        err.contains("FAR") && err.contains("maximum_match_distance"),
        "{err}"
    );
    let unknown = ClassifierConfig::from_toml_str(
        "[managed]\nselection = \"INCLUDE\"\nidentifiers = [\"NOPE\"]\n",
    )
    .unwrap();
    assert!(
        Engine::new(&unknown)
            .unwrap_err()
            .to_string()
            .contains("NOPE")
    );
    let err = ClassifierConfig::from_toml_str("[managed]\nselecton = \"ALL\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("selecton"), "{err}");
    let err =
        ClassifierConfig::from_toml_str("[[allow_lists]]\nname = \"L\"\nregex = \"(\"\n").unwrap();
    assert!(
        Engine::new(&err)
            .unwrap_err()
            .to_string()
            .contains("allow list L")
    );
}

#[test]
fn selection_modes() {
    let none = selection_engine(SelectionMode::None);
    assert!(
        none.classify_bytes("a.txt", b"SSN: 536-22-5181")
            .detections
            .is_empty()
    );
    let include = Engine::new(&ClassifierConfig {
        managed: ManagedSelection {
            selection: SelectionMode::Include,
            identifiers: vec!["LATITUDE_LONGITUDE".into()],
        },
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        count(
            &include.classify_bytes("a.txt", b"gps 40.748817, -73.985428"),
            "LATITUDE_LONGITUDE"
        ),
        1
    );
    assert_eq!(
        count(
            &Engine::default().classify_bytes("a.txt", b"gps 40.748817, -73.985428"),
            "LATITUDE_LONGITUDE"
        ),
        0
    );
}

#[test]
fn utf16_text_is_decoded() {
    let mut data = vec![0xFF, 0xFE];
    for u in "SSN: 536-22-5181".encode_utf16() {
        data.extend_from_slice(&u.to_le_bytes());
    }
    assert_eq!(
        count(
            &Engine::default().classify_bytes("a.txt", &data),
            "USA_SOCIAL_SECURITY_NUMBER"
        ),
        1
    );
}

#[test]
fn read_errors_end_as_partial_or_skipped() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("boom"));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(b'a');
            self.0 -= n;
            Ok(n)
        }
    }
    let engine = Engine::default();
    let r = engine.classify_reader("a.txt", &mut Failing(0));
    assert_eq!(r.status, Status::Skipped);
    let r = engine.classify_reader("a.txt", &mut Failing(10));
    assert_eq!(
        (r.status, r.reason.as_deref()),
        (Status::Partial, Some("UNABLE_TO_READ_FILE"))
    );
}

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

#[test]
fn vendor_tokens_are_counted_once() {
    let engine = all_engine();
    let once = [
        (
            "VAULT_TOKEN=s.Z4bTMtngfLeQ18AqVoBBkUAOD1",
            "HASHICORP_VAULT_TOKEN",
        ),
        (
            "vault_token: s.Z4bTMtngfLeQ18AqVoBBkUAOD1",
            "HASHICORP_VAULT_TOKEN",
        ),
        (
            "twitter_bearer_token: AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4XsNiRVBChTYbJcE3F",
            "TWITTER_BEARER_TOKEN",
        ),
        (
            "//registry.npmjs.org/:_authToken=npm_TCllNwh2WLQlMWVhybM1iQrsTj6rMQ0BOh6d",
            "NPM_ACCESS_TOKEN",
        ),
    ];
    for (text, kind) in once {
        let r = engine.classify_bytes("a.txt", text.as_bytes());
        assert_eq!(count(&r, kind), 1, "{text}: {:?}", kinds(&r));
        assert_eq!(r.detections.len(), 1, "{text}: {:?}", kinds(&r));
    }
}

#[test]
fn managed_identifiers_list_each_name_once_with_its_selection() {
    let by_name = |engine: &Engine| {
        let list = engine.managed_identifiers();
        let names: std::collections::HashSet<_> = list.iter().map(|i| i.name.clone()).collect();
        assert_eq!(names.len(), list.len(), "each name is listed once");
        list.into_iter()
            .map(|i| (i.name.clone(), i))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let default = by_name(&Engine::default());
    let aws = &default["AWS_CREDENTIALS"];
    assert_eq!(
        (aws.category, aws.severity, aws.keywords, aws.enabled),
        ("CREDENTIALS", "HIGH", "OPTIONAL", true)
    );
    assert_eq!(default["UK_NHS_NUMBER"].keywords, "REQUIRED");
    // `ddd-dd-dddd` needs none, nine digits together do.
    assert_eq!(
        default["USA_SOCIAL_SECURITY_NUMBER"].keywords,
        "SOME_FORMATS"
    );
    assert_eq!(default["PHONE_NUMBER"].severity, "BY_COUNT");
    assert_eq!(
        default["CREDIT_CARD_NUMBER_(NO_KEYWORD)"].keywords,
        "NONE_FOUND"
    );
    assert!(default["<COUNTRY>_BANK_ACCOUNT_NUMBER"].enabled);
    let latlong = &default["LATITUDE_LONGITUDE"];
    assert!(!latlong.recommended && !latlong.enabled);
    assert!(by_name(&all_engine())["LATITUDE_LONGITUDE"].enabled);
    let none = selection_engine(SelectionMode::None);
    assert!(none.managed_identifiers().iter().all(|i| !i.enabled));
}
