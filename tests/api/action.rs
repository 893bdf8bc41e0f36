//! The GitHub Action (`action.yml`) run as a runner runs it: its one step, `action/run.sh`,
//! with the environment the composite action gives it (inputs as `AUTODB_*`, the step
//! summary and output files), against a real `autodb serve` and PostgreSQL.

use std::path::Path;

use crate::cli_harness::{column_exists, stack, stop, write, Cli, Run, KEY};
use crate::helpers::TempDir;

/// `action/run.sh` for `command`, as the composite action's step; returns its run, the
/// step summary and the step outputs.
async fn step(cli: &Cli, dir: &Path, inputs: &[(&str, &str)]) -> (Run, String, String) {
    let summary = dir.join(format!("summary-{}", uuid::Uuid::new_v4().simple()));
    let outputs = dir.join(format!("outputs-{}", uuid::Uuid::new_v4().simple()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("action/run.sh");
    let mut command = tokio::process::Command::new(script);
    command
        .env("AUTODB_BIN", env!("CARGO_BIN_EXE_autodb"))
        .env("AUTODB_URL", &cli.url)
        .env("AUTODB_API_KEY", KEY)
        .env("AUTODB_STATE_DIR", &cli.state.0)
        .env("NO_COLOR", "1")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env_remove("AUTODB_CONNECTION")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (name, value) in inputs {
        command.env(name, value);
    }
    let run = cli.run_with(command).await;
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (run, read(&summary), read(&outputs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_lints_gates_and_deploys_against_a_real_stack() {
    let (dir, mut served, cli, target, conn) = stack().await;
    let migrations = TempDir::new();
    write(
        &migrations.0,
        "1_phone.sql",
        "ALTER TABLE customers ADD COLUMN phone text;\n",
    );
    write(
        &migrations.0,
        "2_notes.sql",
        "CREATE TABLE notes (id bigint PRIMARY KEY);\n",
    );
    let path = migrations.0.to_string_lossy().into_owned();

    // Pull request: lint, offline. Passes at `high`; annotations and a summary.
    let (lint, summary, outputs) = step(
        &cli,
        &dir.0,
        &[("AUTODB_COMMAND", "lint"), ("AUTODB_MIGRATIONS", &path)],
    )
    .await;
    assert_eq!(lint.code, 0, "{}{}", lint.stdout, lint.stderr);
    assert!(summary.starts_with("### autodb lint: passed"), "{summary}");
    assert!(outputs.contains("exit-code=0"), "{outputs}");

    // A risky file: annotations on it, the job fails with lint's exit code.
    let risky = TempDir::new();
    write(&risky.0, "3_drop.sql", "DROP TABLE orders;\n");
    let (lint, summary, outputs) = step(
        &cli,
        &dir.0,
        &[
            ("AUTODB_COMMAND", "lint"),
            ("AUTODB_MIGRATIONS", &risky.0.to_string_lossy()),
            ("AUTODB_MAX_RISK", "medium"),
        ],
    )
    .await;
    assert_eq!(lint.code, 1);
    assert!(lint.stdout.contains("::error file="), "{}", lint.stdout);
    assert!(summary.contains("failed (exit 1)"), "{summary}");
    assert!(outputs.contains("exit-code=1"));

    // Merge: analyze against the stack and gate, then deploy and wait.
    let stack_inputs = |command: &'static str| {
        vec![
            ("AUTODB_COMMAND", command),
            ("AUTODB_MIGRATIONS", path.as_str()),
            ("AUTODB_CONNECTION", conn.as_str()),
            ("AUTODB_MAX_RISK", "medium"),
        ]
    };
    let (gate, summary, _) = step(&cli, &dir.0, &stack_inputs("analyze")).await;
    assert_eq!(gate.code, 0, "{}{}", gate.stdout, gate.stderr);
    assert!(summary.contains("at most medium"), "{summary}");
    assert!(
        !column_exists(&target, "customers", "phone").await,
        "analyze applies nothing"
    );
    let (deploy, summary, outputs) = step(&cli, &dir.0, &stack_inputs("deploy")).await;
    assert_eq!(deploy.code, 0, "{}{}", deploy.stdout, deploy.stderr);
    assert!(
        summary.starts_with("### autodb deploy: deployed"),
        "{summary}"
    );
    assert!(summary.contains("+ table notes"), "{summary}");
    assert!(outputs.contains("exit-code=0"));
    assert!(column_exists(&target, "customers", "phone").await);

    // Without the stack's inputs: a usage error, before anything is sent.
    let (usage, _, outputs) = step(
        &cli,
        &dir.0,
        &[("AUTODB_COMMAND", "deploy"), ("AUTODB_MIGRATIONS", &path)],
    )
    .await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert!(usage.stderr.contains("connection"), "{}", usage.stderr);
    assert!(outputs.contains("exit-code=2"));
    stop(&mut served).await;
}

/// `action.yml` passes the step every input `action/run.sh` reads, and names only inputs it
/// declares (a text check: the composite action's step env against its inputs and the
/// script's variables).
#[test]
fn the_action_passes_the_step_what_it_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let action = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let script = std::fs::read_to_string(root.join("action/run.sh")).unwrap();
    let inputs: Vec<&str> = action
        .split("\ninputs:\n")
        .nth(1)
        .and_then(|rest| rest.split("\noutputs:").next())
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    assert!(inputs.contains(&"connection"), "{inputs:?}");
    let mut passed = Vec::new();
    for line in action.lines().map(str::trim) {
        let Some((name, value)) = line.split_once(": ${{ inputs.") else {
            continue;
        };
        let input = value.trim_end_matches(" }}");
        assert!(
            inputs.contains(&input),
            "{name} names an undeclared input {input}"
        );
        passed.push(name);
    }
    for name in [
        "AUTODB_COMMAND",
        "AUTODB_MIGRATIONS",
        "AUTODB_MAX_RISK",
        "AUTODB_URL",
        "AUTODB_API_KEY",
        "AUTODB_CONNECTION",
        "AUTODB_SCHEMA",
        "AUTODB_COMMENT",
        "AUTODB_BIN",
    ] {
        assert!(script.contains(name), "run.sh does not read {name}");
        assert!(passed.contains(&name), "action.yml does not pass {name}");
    }
}
