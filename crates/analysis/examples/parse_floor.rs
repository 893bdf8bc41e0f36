//! The floor under `autodb lint`'s wall time: loads and parses the files exactly as the lint's
//! workers do (`autodb_core::sql::parse_migration`: psql meta-commands, PostgreSQL's parser
//! through `pg_query`, its scanner for statement boundaries and comments), on as many threads
//! as the lint uses, and analyzes nothing. `scripts/bench-lint` times it beside the lint and
//! squawk: no lint built on this parser can be faster than this run.
//!
//! `cargo run -p autodb-analysis --example parse_floor -- FILE...` prints the number of
//! statements parsed; exits 2 when a file cannot be read.

use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len())
        .max(1);
    let counted = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine = files.iter().skip(w).step_by(workers);
                scope.spawn(move || {
                    let mut statements = 0;
                    for path in mine {
                        let sql =
                            std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
                        // A file the parser refuses costs its parse all the same.
                        if let Ok(migration) = autodb_core::sql::parse_migration(&sql) {
                            statements += migration.statements.len();
                        }
                    }
                    Ok::<usize, String>(statements)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into())))
            .sum::<Result<usize, String>>()
    });
    match counted {
        Ok(statements) => {
            println!("{statements}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parse_floor: {e}");
            ExitCode::from(2)
        }
    }
}
