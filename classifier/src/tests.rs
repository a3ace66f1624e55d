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
    Engine::new(&ClassifierConfig {
        managed: ManagedSelection {
            selection: SelectionMode::All,
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
