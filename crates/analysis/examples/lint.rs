//! A stand-in for `autodb lint` until the CLI wires in `autodb_analysis::lint`: reads the
//! files, prints the report, exits with the lint exit code.
//!
//! `cargo run -p autodb-analysis --example lint -- [--json] [--max-risk LEVEL] FILE...`

use std::process::ExitCode;

use std::io::Write;

use autodb_analysis::lint::{lint_exit_code, lint_sources, render_json, render_text};
use autodb_analysis::RiskCategory;

fn main() -> ExitCode {
    let mut json = false;
    let mut max_risk = RiskCategory::High;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
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
    let mut inputs = Vec::with_capacity(files.len());
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(sql) => inputs.push((path, sql)),
            Err(e) => return usage(&format!("{path}: {e}")),
        }
    }
    let reports = lint_sources(&inputs);
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if json {
        writeln!(stdout, "{}", render_json(&reports))
    } else {
        stdout.write_all(render_text(&reports).as_bytes())
    };
    if let Err(e) = written.and_then(|()| stdout.flush()) {
        eprintln!("lint: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(lint_exit_code(&reports, max_risk) as u8)
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "lint: {problem}\nusage: lint [--json] [--max-risk low|medium|high|critical] FILE..."
    );
    ExitCode::from(2)
}
