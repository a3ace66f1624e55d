//! Classifies local files and folders: the engine behind `trawl classify PATH…`.
//!
//! [`classify_paths`] walks each argument recursively in sorted order (deterministic output),
//! classifies every regular file with the same [`Engine`] the workers use, and writes one JSON
//! object per file (JSON Lines) or a table for people, then one more per file inside it
//! (archive members, email attachments) with its `embedded_path`. A file that cannot be opened
//! or read is reported as SKIPPED with a reason; nothing here panics on bad input.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Detection, Engine, FileResult, Severity, Status};

/// Output format of [`classify_paths`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// One JSON object per file and line.
    #[default]
    JsonLines,
    /// An aligned table for people.
    Table,
}

/// Totals over a [`classify_paths`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files visited.
    pub num_files: u64,
    /// Files with at least one detection.
    pub num_files_with_detections: u64,
    /// Files SKIPPED.
    pub num_files_skipped: u64,
    /// Bytes classified.
    pub num_bytes_classified: u64,
    /// Detections (sum of counts) over all files.
    pub num_detections: u64,
}

#[derive(Serialize)]
struct DetectionLine<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    category: &'a str,
    severity: Severity,
    count: u64,
    occurrences: &'a crate::Occurrences,
}

#[derive(Serialize)]
struct FileLine<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    embedded_path: Option<&'a str>,
    status: Status,
    reason: Option<&'a str>,
    size_classified: u64,
    severity: Option<Severity>,
    detections: Vec<DetectionLine<'a>>,
}

fn detection_line(d: &Detection) -> DetectionLine<'_> {
    DetectionLine {
        kind: &d.kind,
        category: &d.category,
        severity: d.severity,
        count: d.count,
        occurrences: &d.occurrences,
    }
}

/// Collects the files under `path` (itself if it is a file), sorted; errors become entries.
fn collect(path: &Path, out: &mut Vec<(PathBuf, Option<String>)>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.push((
                path.to_path_buf(),
                Some(format!("UNABLE_TO_OPEN_FILE: {e}")),
            ));
            return;
        }
    };
    if meta.is_file() {
        out.push((path.to_path_buf(), None));
        return;
    }
    if !meta.is_dir() {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => {
            out.push((
                path.to_path_buf(),
                Some(format!("UNABLE_TO_OPEN_FILE: {e}")),
            ));
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        collect(&child, out);
    }
}

fn classify_one(engine: &Engine, path: &Path) -> FileResult {
    match File::open(path) {
        Ok(mut f) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            engine.classify_reader(&name, &mut f)
        }
        Err(e) => FileResult {
            status: Status::Skipped,
            reason: Some(format!("UNABLE_TO_OPEN_FILE: {e}")),
            size_classified: 0,
            severity: None,
            detections: Vec::new(),
            embedded: Vec::new(),
        },
    }
}

/// Classifies every file under `paths` and writes one record per file to `out`.
///
/// `path` in each record is the argument joined with the file's path below it, so
/// `classify_paths(…, ["data"], …)` prints `data/csv/0002.csv`.
pub fn classify_paths(
    engine: &Engine,
    paths: &[PathBuf],
    format: OutputFormat,
    out: &mut dyn Write,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files);
    }
    if format == OutputFormat::Table {
        writeln!(
            out,
            "{:<48} {:<9} {:>12} {:<8} DETECTIONS",
            "PATH", "STATUS", "BYTES", "SEVERITY"
        )?;
    }
    for (path, open_error) in files {
        let result = match open_error {
            Some(reason) => FileResult {
                status: Status::Skipped,
                reason: Some(reason),
                size_classified: 0,
                severity: None,
                detections: Vec::new(),
                embedded: Vec::new(),
            },
            None => classify_one(engine, &path),
        };
        summary.num_files += 1;
        summary.num_bytes_classified += result.size_classified;
        if result.status == Status::Skipped {
            summary.num_files_skipped += 1;
        }
        if !result.detections.is_empty() {
            summary.num_files_with_detections += 1;
        }
        summary.num_detections += result.detections.iter().map(|d| d.count).sum::<u64>();
        let path_str = path.to_string_lossy();
        write_record(out, format, &path_str, None, &result)?;
        for member in &result.embedded {
            write_record(
                out,
                format,
                &path_str,
                Some(&member.embedded_path),
                &member.result,
            )?;
        }
    }
    if format == OutputFormat::Table {
        writeln!(
            out,
            "{} files, {} with detections, {} skipped, {} bytes classified, {} detections",
            summary.num_files,
            summary.num_files_with_detections,
            summary.num_files_skipped,
            summary.num_bytes_classified,
            summary.num_detections
        )?;
    }
    Ok(summary)
}

/// Writes one record: a file, or (with `embedded_path`) a file inside it.
fn write_record(
    out: &mut dyn Write,
    format: OutputFormat,
    path_str: &str,
    embedded_path: Option<&str>,
    result: &FileResult,
) -> io::Result<()> {
    match format {
        OutputFormat::JsonLines => {
            let line = FileLine {
                path: path_str,
                embedded_path,
                status: result.status,
                reason: result.reason.as_deref(),
                size_classified: result.size_classified,
                severity: result.severity,
                detections: result.detections.iter().map(detection_line).collect(),
            };
            serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Table => {
            let shown = match embedded_path {
                Some(inner) => format!("{path_str}!{inner}"),
                None => path_str.to_string(),
            };
            let dets: Vec<String> = result
                .detections
                .iter()
                .map(|d| format!("{}×{}", d.kind, d.count))
                .collect();
            let dets = if dets.is_empty() {
                result.reason.clone().unwrap_or_else(|| "-".into())
            } else {
                dets.join(", ")
            };
            writeln!(
                out,
                "{:<48} {:<9} {:>12} {:<8} {}",
                shown,
                result.status.as_str(),
                result.size_classified,
                result.severity.map_or("-", Severity::as_str),
                dets
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_folders_and_reports_missing_files() {
        let dir =
            std::env::temp_dir().join(format!("trawl-classifier-local-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/b.txt"), "SSN: 536-22-5181\n").unwrap();
        std::fs::write(dir.join("a.txt"), "nothing here\n").unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(17);
        h.set_cksum();
        tar.append_data(&mut h, "in/c.txt", &b"SSN: 536-22-5181\n"[..])
            .unwrap();
        std::fs::write(dir.join("sub/c.tar"), tar.into_inner().unwrap()).unwrap();
        let engine = Engine::default();
        let mut out = Vec::new();
        let paths = vec![dir.clone(), dir.join("missing.txt")];
        let summary = classify_paths(&engine, &paths, OutputFormat::JsonLines, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0]["path"].as_str().unwrap().ends_with("a.txt"));
        assert!(lines[1]["path"].as_str().unwrap().ends_with("sub/b.txt"));
        assert_eq!(
            lines[1]["detections"][0]["type"],
            "USA_SOCIAL_SECURITY_NUMBER"
        );
        assert!(lines[2]["path"].as_str().unwrap().ends_with("sub/c.tar"));
        assert!(lines[2].get("embedded_path").is_none());
        assert_eq!(lines[2]["detections"][0]["count"], 1);
        assert!(lines[3]["path"].as_str().unwrap().ends_with("sub/c.tar"));
        assert_eq!(lines[3]["embedded_path"], "in/c.txt");
        assert_eq!(
            lines[3]["detections"][0]["occurrences"]["lineRanges"][0]["start"],
            1
        );
        assert_eq!(lines[4]["status"], "SKIPPED");
        assert_eq!(summary.num_files, 4);
        assert_eq!(summary.num_files_skipped, 1);
        let mut table = Vec::new();
        classify_paths(
            &engine,
            std::slice::from_ref(&dir),
            OutputFormat::Table,
            &mut table,
        )
        .unwrap();
        assert!(String::from_utf8(table).unwrap().contains("c.tar!in/c.txt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
