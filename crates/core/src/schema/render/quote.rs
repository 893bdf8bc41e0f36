//! Quoting identifiers and literals the way PostgreSQL's `quote_ident` and `quote_literal` do.
//!
//! An identifier stays bare when it is lower-case ASCII letters, digits, `_` and `$` (not
//! starting with a digit or `$`) and the scanner does not read it as a keyword that would
//! need quotes there; anything else is double-quoted with `"` doubled. Which words are
//! keywords is the scanner's (pg_query's) answer, not a list kept here.

use pg_query::protobuf::KeywordKind;

/// `quote_ident`: `orders` → `orders`, `Orders` → `"Orders"`, `user` → `"user"`.
pub fn ident(name: &str) -> String {
    if is_plain(name) && !needs_quotes_as_keyword(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `schema.name`, each part quoted as needed.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// `quote_literal`: `it's` → `'it''s'`; with a backslash, the `E''` form.
pub fn literal(text: &str) -> String {
    let body = text.replace('\'', "''");
    if body.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

fn is_plain(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'$'))
}

/// PostgreSQL's `quote_ident` leaves unreserved keywords bare and quotes the others.
fn needs_quotes_as_keyword(name: &str) -> bool {
    match pg_query::scan(name) {
        Ok(scanned) => scanned.tokens.iter().any(|t| {
            !matches!(
                t.keyword_kind(),
                KeywordKind::NoKeyword | KeywordKind::UnreservedKeyword
            )
        }),
        // A word the scanner cannot read is safest quoted.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lower_case_names_stay_bare() {
        assert_eq!(ident("orders"), "orders");
        assert_eq!(ident("_t1$"), "_t1$");
        // `name` and `year` are unreserved keywords: quote_ident leaves them bare.
        assert_eq!(ident("name"), "name");
        assert_eq!(ident("year"), "year");
    }

    #[test]
    fn mixed_case_reserved_and_odd_names_are_quoted() {
        assert_eq!(ident("Orders"), "\"Orders\"");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("select"), "\"select\"");
        assert_eq!(ident("1st"), "\"1st\"");
        assert_eq!(ident("a b"), "\"a b\"");
        assert_eq!(ident("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(ident("bıgınt"), "\"bıgınt\"");
        assert_eq!(ident(""), "\"\"");
    }

    #[test]
    fn qualified_names_quote_each_part() {
        assert_eq!(qualified("public", "Orders"), "public.\"Orders\"");
        assert_eq!(qualified("My Schema", "t"), "\"My Schema\".t");
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(literal("a"), "'a'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\b"), "E'a\\\\b'");
    }
}
