//! `autodb lint`'s engine without the service around it: builds in seconds in release mode,
//! so `scripts/bench-lint` measures the lint, not a build of the AWS SDK. Lints the files as
//! one history, streamed, and prints the report; exits with the lint exit code.
//!
//! `cargo run -p autodb-lint --example lint -- [--json] [--max-risk LEVEL] FILE...`

use std::io::Write;
use std::process::ExitCode;

use autodb_analysis::history::History;
use autodb_analysis::lint::{lint_history, Config, Verdict};
use autodb_analysis::RiskCategory;
use autodb_lint::{Format, Renderer};

fn main() -> ExitCode {
    let mut format = Format::Text { color: false };
    let mut max_risk = RiskCategory::High;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => format = Format::Json,
            "--max-risk" => match args.next().map(|v| v.parse::<RiskCategory>()) {
                Some(Ok(level)) => max_risk = level,
                Some(Err(e)) => return usage(&e.to_string()),
                None => return usage("--max-risk needs a value"),
            },
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        return usage("no files");
    }
    let config = Config::default();
    let mut history = History::new(config.runner());
    let mut renderer = Renderer::new(format, files.len(), false);
    let mut verdict = Verdict::default();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut written = stdout.write_all(renderer.start().as_bytes());
    let walked = lint_history(
        &files,
        |p: &str| std::fs::read_to_string(p),
        &mut history,
        &config,
        |source, report| {
            verdict.add(&report);
            if written.is_ok() {
                written = stdout.write_all(renderer.file(&report, source).as_bytes());
            }
        },
    );
    if let Err((path, e)) = walked {
        return usage(&format!("{path}: {e}"));
    }
    if let Err(e) = written
        .and_then(|()| stdout.write_all(renderer.finish().as_bytes()))
        .and_then(|()| stdout.flush())
    {
        eprintln!("lint: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(u8::try_from(verdict.exit_code(max_risk)).unwrap_or(2))
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "lint: {problem}\nusage: lint [--json] [--max-risk low|medium|high|critical] FILE..."
    );
    ExitCode::from(2)
}
