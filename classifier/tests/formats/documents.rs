//! Documents made by real tools (`tests/fixtures/make_fixtures.py`).

use super::*;

#[test]
fn docx_paragraphs_are_lines() {
    let r = engine().classify_bytes("report.docx", &fixture("report.docx"));
    assert_eq!(verdict(&r), ("COMPLETE", None), "{}", dump(&r));
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    let ssn = &r.detections[1].occurrences.line_ranges[0];
    assert_eq!((ssn.start, ssn.start_column), (2, 15));
    let mail = &r.detections[0].occurrences.line_ranges[0];
    assert_eq!((mail.start, mail.start_column), (3, 9));
    // Without the extension the zip is still recognised by its parts.
    let r = engine().classify_bytes("upload", &fixture("report.docx"));
    assert_eq!(kinds(&r).len(), 2, "{}", dump(&r));
    assert!(r.embedded.is_empty());
}

#[test]
fn xlsx_cells_carry_the_sheet() {
    let r = engine().classify_bytes("people.xlsx", &fixture("people.xlsx"));
    assert_eq!(verdict(&r), ("COMPLETE", None), "{}", dump(&r));
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["detections"][0]["occurrences"]["cells"][0],
        serde_json::json!({"row": 2, "column": 2, "columnName": "email", "cellReference": "Sheet2!B2"})
    );
    assert_eq!(
        json["detections"][1]["occurrences"]["cells"][0],
        serde_json::json!({"row": 5, "column": 3, "columnName": "ssn", "cellReference": "Sheet2!C5"})
    );
}

#[test]
fn pptx_slides_are_pages() {
    let r = engine().classify_bytes("deck.pptx", &fixture("deck.pptx"));
    assert_eq!(verdict(&r), ("COMPLETE", None), "{}", dump(&r));
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 2)]
    );
    let pages: Vec<u64> = r.detections[1]
        .occurrences
        .pages
        .iter()
        .map(|p| p.page_number)
        .collect();
    assert_eq!(pages, vec![2, 3]);
    assert_eq!(r.detections[0].occurrences.pages[0].page_number, 3);
}

#[test]
fn eml_headers_bodies_and_attachments() {
    let r = engine().classify_bytes("message.eml", &fixture("message.eml"));
    assert_eq!(verdict(&r), ("COMPLETE", None), "{}", dump(&r));
    let paths: Vec<&str> = r
        .embedded
        .iter()
        .map(|e| e.embedded_path.as_str())
        .collect();
    assert_eq!(paths, vec!["people.csv", "attachment-2.eml"]);
    let csv = &r.embedded[0].result;
    let cell = &csv.detections[0].occurrences.cells[0];
    assert_eq!(
        (cell.row, cell.column, cell.column_name.as_str()),
        (2, 2, "ssn")
    );
    assert_eq!(
        kinds(&r.embedded[1].result),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    // Own: the From and To headers and the body; plus the two attachments.
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 3), ("USA_SOCIAL_SECURITY_NUMBER", 3)]
    );
}

#[test]
fn broken_documents_are_unparsable() {
    let mut docx = fixture("report.docx");
    docx.truncate(docx.len() / 2);
    let r = engine().classify_bytes("report.docx", &docx);
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
    let r = engine().classify_bytes(
        "x.docx",
        &zip_of(&[("word/document.xml", b"<w:p><w:t>a</w")]),
    );
    assert_eq!(
        r.reason.as_deref(),
        Some("UNABLE_TO_PARSE_FILE"),
        "{}",
        dump(&r)
    );
}
