//! psql meta-commands in a migration file: which are accepted, and how they are taken out.
//!
//! Migration files written for `psql -f` often hold lines such as `\set ON_ERROR_STOP 1` or
//! `\echo creating tables`. The server never sees them (psql acts on them), and autodb does
//! not run psql, so a meta-command is either one that leaves what the SQL does unchanged —
//! accepted, reported, and *blanked* — or one whose meaning autodb cannot reproduce (`\i`
//! includes a file nobody analyzed, `\gexec` runs a query's output as SQL, `\connect` moves
//! to another database, `\if` skips statements, `:name` interpolates a variable) — refused,
//! naming the line and the command.
//!
//! **Which backslash is a meta-command is decided by PostgreSQL's scanner, never by a lexer
//! written here.** A backslash inside a string, a dollar-quoted body, a quoted identifier or
//! a comment is part of that token; only a `\` the scanner returns as a token of its own is
//! outside all of them, which is exactly where psql sees a meta-command. Such a `\` must be
//! the first thing on its line (after SQL on the same line psql would act on the query
//! buffer, e.g. `\g`, `\;`), and the command runs to the end of the line.
//!
//! Blanking replaces the line's bytes by spaces and keeps its line break, so every statement
//! keeps its byte offsets, lines and columns, and a statement a meta-command line sat inside
//! keeps all of its tokens. [`super::parse`] calls [`blank`] before anything else, so the
//! analysis, the round-trip proof and the executor all see the same blanked text, while the
//! approval token still binds the bytes that were submitted.

use std::borrow::Cow;

use pg_query::protobuf::Token;
use serde::Serialize;

use super::error::{error_at, line_col};
use super::ParseError;

/// An accepted meta-command that was taken out of the SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PsqlCommand {
    /// 1-based line of the command in the migration.
    pub line: usize,
    /// The command with its backslash, e.g. `\set`.
    pub command: String,
    /// What psql would have done with it, and why leaving it out changes nothing.
    pub effect: String,
}

/// A migration with its accepted meta-commands blanked out.
#[derive(Debug, Clone)]
pub struct Blanked<'a> {
    /// The text the analysis judges and the executor sends from: the input, byte for byte,
    /// except that each accepted meta-command line is spaces up to its line break.
    pub text: Cow<'a, str>,
    pub commands: Vec<PsqlCommand>,
}

/// psql variables that change how psql sends the statements, so that psql and autodb would
/// run the file differently.
const RUN_VARIABLES: &[&str] = &[
    "AUTOCOMMIT",
    "ON_ERROR_ROLLBACK",
    "SINGLELINE",
    "SINGLESTEP",
];

/// Meta-commands that only change what psql prints.
const OUTPUT_ONLY: &[&str] = &[
    "pset", "timing", "x", "a", "t", "H", "f", "C", "T", "conninfo",
];

/// Takes the accepted meta-commands out of a migration, or refuses it at the first
/// meta-command or psql variable autodb cannot honour (see the module doc).
pub fn blank(sql: &str) -> Result<Blanked<'_>, ParseError> {
    let mut blanked = Blanked {
        text: Cow::Borrowed(sql),
        commands: Vec::new(),
    };
    if !sql.contains(['\\', ':']) {
        return Ok(blanked);
    }
    // Where scanning resumes: the start of the input, or the end of a blanked line. Both are
    // outside every token, so the scanner starts there in the state it would have reached.
    let mut from = 0;
    // Where the next line starting with a backslash is looked for.
    let mut search = 0;
    // Statements ended before `from`, for the error's statement index.
    let mut ended = 0;
    // Variables the file has `\set` so far: psql substitutes only those (and its own).
    let mut set: Vec<String> = Vec::new();
    loop {
        let text: &str = &blanked.text;
        let candidate = next_candidate(text, search);
        let upto = candidate.unwrap_or(text.len());
        // The scanner accepts the text up to the candidate line only if no literal, quoted
        // identifier or comment is left open there: then the backslash is a token of its
        // own. Otherwise it is data inside that token (or the text has an error the parser
        // will report), and the next candidate is tried.
        let Ok(tokens) = super::scan(&text[from..upto]) else {
            match candidate {
                Some(at) => {
                    search = line_end(text, at);
                    continue;
                }
                None => return Ok(blanked),
            }
        };
        for token in &tokens {
            let (start, end) = super::span(token);
            let (start, end) = (from + start, from + end);
            if token.token == Token::Ascii59 as i32 {
                ended += 1;
            } else if token.token == Token::Ascii58 as i32 && is_substituted(&text[end..], &set) {
                return Err(variable_error(sql, start, ended));
            } else if token.token == Token::Ascii92 as i32 {
                let name = command_name(&text[start..line_end(text, start)]);
                return Err(refusal(
                    sql,
                    start,
                    ended,
                    &name,
                    "follows SQL on the same line, where psql applies it to the query being \
                     typed",
                ));
            }
        }
        let Some(at) = candidate else {
            return Ok(blanked);
        };
        let end = line_end(text, at);
        let name = command_name(&text[at..end]);
        let effect =
            classify(&name, &text[at..end]).map_err(|why| refusal(sql, at, ended, &name, why))?;
        if name == "\\set" {
            let args = &text[at + name.len()..end];
            if let Some(variable) = args.split_whitespace().next() {
                set.push(variable.to_string());
            }
        }
        blanked.commands.push(PsqlCommand {
            line: line_col(sql, at).0,
            command: name,
            effect: effect.to_string(),
        });
        // Byte for byte, so offsets stay; a multi-byte character becomes as many spaces.
        let spaces: String = text[at..end]
            .bytes()
            .map(|b| if b == b'\r' { '\r' } else { ' ' })
            .collect();
        blanked.text.to_mut().replace_range(at..end, &spaces);
        from = end;
        search = end;
    }
}

/// The offset of the next backslash at or after `search` that only blanks precede on its
/// line: where psql would see a meta-command, if the scanner agrees it is outside every
/// token.
fn next_candidate(text: &str, search: usize) -> Option<usize> {
    let mut offset = search;
    for line in text[search..].split_inclusive('\n') {
        let blank = line.len() - line.trim_start_matches(BLANKS).len();
        if line[blank..].starts_with('\\') && (offset == 0 || text[..offset].ends_with('\n')) {
            return Some(offset + blank);
        }
        offset += line.len();
    }
    None
}

/// The blanks of PostgreSQL's scanner, without the line feed.
const BLANKS: &[char] = &[' ', '\t', '\r', '\x0b', '\x0c'];

/// The offset of the line feed that ends the line holding `at`, or the end of the text.
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i)
}

/// Variables psql sets itself, which it substitutes without a `\set` in the file.
const PSQL_SET: &[&str] = &[
    "AUTOCOMMIT",
    "COMP_KEYWORD_CASE",
    "DBNAME",
    "ECHO",
    "ECHO_HIDDEN",
    "ENCODING",
    "ERROR",
    "FETCH_COUNT",
    "HIDE_TABLEAM",
    "HIDE_TOAST_COMPRESSION",
    "HISTCONTROL",
    "HISTFILE",
    "HISTSIZE",
    "HOST",
    "IGNOREEOF",
    "LASTOID",
    "LAST_ERROR_MESSAGE",
    "LAST_ERROR_SQLSTATE",
    "ON_ERROR_ROLLBACK",
    "ON_ERROR_STOP",
    "PORT",
    "PROMPT1",
    "PROMPT2",
    "PROMPT3",
    "QUIET",
    "ROW_COUNT",
    "SERVER_VERSION_NAME",
    "SERVER_VERSION_NUM",
    "SHELL_ERROR",
    "SHELL_EXIT_CODE",
    "SHOW_ALL_RESULTS",
    "SHOW_CONTEXT",
    "SINGLELINE",
    "SINGLESTEP",
    "SQLSTATE",
    "USER",
    "VERBOSITY",
    "VERSION",
    "VERSION_NAME",
    "VERSION_NUM",
];

/// A `:` directly followed by a variable reference psql substitutes: `:name`, `:'name'` or
/// `:"name"` of a variable the file `\set` before (or one psql sets itself), and `:{?name}`
/// always. psql leaves a reference to an unset variable as written, so `a[2:array_upper(a,
/// 1)]` reaches the server as an array slice. A `:` followed by a digit is left alone too;
/// a `\set` of a name starting with a digit is refused.
fn is_substituted(after: &str, set: &[String]) -> bool {
    if after.starts_with("{?") {
        return true;
    }
    let quoted = after.strip_prefix(['\'', '"']);
    let name_start = quoted.unwrap_or(after);
    let len = name_start
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(name_start.len());
    let name = &name_start[..len];
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
    {
        return false;
    }
    // psql substitutes a quoted reference only when the quote closes right after the name.
    if let Some(q) = after.chars().next().filter(|_| quoted.is_some()) {
        if !name_start[len..].starts_with(q) {
            return false;
        }
    }
    set.iter().any(|v| v == name) || PSQL_SET.contains(&name)
}

/// `\set`, `\echo`, … : the backslash and what follows up to a blank or another backslash.
fn command_name(command: &str) -> String {
    let rest = &command[1..];
    let len = rest
        .find(|c: char| c.is_whitespace() || c == '\\')
        .unwrap_or(rest.len());
    format!("\\{}", &rest[..len])
}

/// What an accepted command does, or why it is refused. `command` is the whole line from the
/// backslash.
fn classify(name: &str, command: &str) -> Result<&'static str, &'static str> {
    let args = &command[name.len()..];
    if args.contains('\\') {
        return Err(
            "shares its line with another backslash, which psql reads as a further \
                    meta-command",
        );
    }
    if args.contains('`') {
        return Err("has a backquoted argument, which psql runs as a shell command");
    }
    match &name[1..] {
        "echo" | "qecho" | "warn" => Ok("prints a message in psql; autodb prints nothing"),
        "set" | "unset" => classify_variable(args),
        n if OUTPUT_ONLY.contains(&n) => Ok("changes how psql prints results; autodb prints none"),
        "i" | "ir" | "include" | "include_relative" => {
            Err("includes another file, which autodb has not analyzed")
        }
        "c" | "connect" => Err("connects to another database"),
        "copy" => Err("copies data between the client and a table, which autodb cannot do"),
        "g" | "gx" | "gset" | "gexec" | "gdesc" | "crosstabview" | ";" => {
            Err("sends the query buffer, or runs its result, in a way autodb does not")
        }
        "!" | "o" | "out" | "w" | "write" | "setenv" | "cd" => {
            Err("runs a shell command or writes a file")
        }
        "if" | "elif" | "else" | "endif" => Err("runs statements conditionally"),
        "q" | "quit" => Err("ends the script early; autodb would run the statements after it"),
        "r" | "reset" | "e" | "edit" | "ef" | "ev" => Err("edits the query buffer"),
        "encoding" => Err("changes how psql encodes the statements"),
        _ => Err("is not one autodb knows to leave the SQL unchanged"),
    }
}

/// `\set NAME value` / `\unset NAME`.
fn classify_variable(args: &str) -> Result<&'static str, &'static str> {
    let variable = args.split_whitespace().next().unwrap_or("");
    if variable.eq_ignore_ascii_case("ON_ERROR_STOP") {
        Ok("sets whether psql stops at an error; autodb always stops at the first error")
    } else if RUN_VARIABLES
        .iter()
        .any(|v| v.eq_ignore_ascii_case(variable))
    {
        Err(
            "changes how psql runs the statements, so psql and autodb would run the file \
             differently",
        )
    } else if !variable
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
    {
        Err(
            "sets a variable whose name does not start with a letter, which psql could \
             substitute where SQL has an array slice",
        )
    } else {
        Ok("sets a psql variable; autodb uses none (SQL that refers to one is refused)")
    }
}

fn refusal(sql: &str, at: usize, statement_index: usize, name: &str, why: &str) -> ParseError {
    let line = line_col(sql, at).0;
    error_at(
        sql,
        at,
        statement_index,
        format!(
            "psql meta-command {name} on line {line} {why}; autodb refuses it (meta-commands \
             that leave the SQL unchanged, such as \\set ON_ERROR_STOP or \\echo, are accepted)"
        ),
    )
}

fn variable_error(sql: &str, at: usize, statement_index: usize) -> ParseError {
    let line = line_col(sql, at).0;
    let reference: String = sql[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ')' | ',' | ';' | ']'))
        .take(40)
        .collect();
    error_at(
        sql,
        at,
        statement_index,
        format!(
            "psql variable {reference} on line {line}: autodb does not substitute psql \
             variables and refuses SQL that uses them (an array slice reads the same with a \
             space after the colon: a[lo: hi])"
        ),
    )
}

#[cfg(test)]
mod tests;
