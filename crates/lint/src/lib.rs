//! `autodb lint`'s reporters: the analysis engine (`autodb_analysis::lint`) returns reports as
//! data; this crate renders them — readable text with code frames, JSON (the analyze report
//! per file), GitHub Actions annotations, a GitLab Code Quality report — as squawk keeps its
//! reporters beside its CLI rather than in its linter.

mod ci;
mod text;

use autodb_analysis::lint::FileReport;
use autodb_analysis::report::Analysis;
use autodb_core::sql::ParseError;
use serde::Serialize;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Readable, with a code frame per finding; ANSI colours when `color`.
    Text { color: bool },
    /// For one file, the analyze report's fields plus `file` and `sizes_known`; for several,
    /// an array of those. A file that does not parse has `error` instead of the report.
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…,col=…::…`).
    Github,
    /// A GitLab Code Quality report (a JSON array of issues).
    Gitlab,
}

/// Renders a stream of file reports: [`Renderer::start`], then [`Renderer::file`] per file,
/// then [`Renderer::finish`]; the caller writes each piece as it comes.
#[derive(Debug)]
pub struct Renderer {
    format: Format,
    files: usize,
    seen: usize,
    findings: usize,
    /// Code Quality issues written so far (they are comma-separated across files).
    issues: usize,
    sizes_known: bool,
}

impl Renderer {
    /// For `files` files; `sizes_known` when the history started from a measured snapshot.
    pub fn new(format: Format, files: usize, sizes_known: bool) -> Self {
        Self {
            format,
            files,
            seen: 0,
            findings: 0,
            issues: 0,
            sizes_known,
        }
    }

    pub fn start(&self) -> String {
        match self.format {
            Format::Json if self.files != 1 => "[".into(),
            Format::Gitlab => "[".into(),
            _ => String::new(),
        }
    }

    /// One file's report; `source` is the file's text (for code frames).
    pub fn file(&mut self, report: &FileReport, source: &str) -> String {
        let first = self.seen == 0;
        self.seen += 1;
        if let Ok(a) = &report.outcome {
            self.findings += a.statements.iter().map(|s| s.findings.len()).sum::<usize>();
        }
        match self.format {
            Format::Text { color } => text::file(report, source, color),
            Format::Json => {
                let sep = if first { "" } else { "," };
                format!("{sep}{}", json_file(report, self.sizes_known))
            }
            Format::Github => ci::github(report, source),
            Format::Gitlab => {
                let issues = ci::gitlab(report, source);
                let sep = if self.issues == 0 || issues.is_empty() {
                    ""
                } else {
                    ","
                };
                self.issues += issues.len();
                format!("{sep}{}", issues.join(","))
            }
        }
    }

    pub fn finish(&self) -> String {
        match self.format {
            Format::Text { color } => {
                text::summary(self.seen, self.findings, self.sizes_known, color)
            }
            Format::Json if self.files != 1 => "]\n".into(),
            Format::Json => "\n".into(),
            Format::Gitlab => "]\n".into(),
            Format::Github => String::new(),
        }
    }
}

#[derive(Serialize)]
struct JsonFile<'a> {
    file: &'a str,
    sizes_known: bool,
    #[serde(flatten)]
    analysis: Option<&'a Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ParseError>,
}

/// One file's JSON object, serialized straight from the report types (no intermediate
/// `Value`: on a large corpus rendering costs as much as analysis otherwise).
fn json_file(r: &FileReport, sizes_known: bool) -> String {
    // The report types serialize infallibly (string keys, no non-finite floats).
    serde_json::to_string(&JsonFile {
        file: &r.path,
        sizes_known,
        analysis: r.outcome.as_ref().ok(),
        error: r.outcome.as_ref().err(),
    })
    .unwrap_or_default()
}

/// Renders reports already collected (tests, small inputs), as the streaming CLI would.
pub fn render(format: Format, reports: &[(FileReport, &str)], sizes_known: bool) -> String {
    let mut r = Renderer::new(format, reports.len(), sizes_known);
    let mut out = r.start();
    for (report, source) in reports {
        out.push_str(&r.file(report, source));
    }
    out.push_str(&r.finish());
    out
}

#[cfg(test)]
mod tests;
