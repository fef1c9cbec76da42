//! The lexer: filter and `order_by` text to tokens with byte offsets.

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword; may contain dots (`tags.mlflow.runName`).
    Word(String),
    /// Quoted text (unescaped) and its quote character.
    Quoted(String, char),
    /// A number literal, as written.
    Num(String),
    /// A comparison operator.
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Dot,
}

/// A token and where it starts and ends (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '/' | '.')
}

/// Split `src` into tokens; an error is the byte offset and what is wrong there.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, (usize, String)> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        let next = src[i + c.len_utf8()..].chars().next();
        let push = |out: &mut Vec<Token>, tok, end| out.push(Token { tok, start: i, end });
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' | ')' | ',' => {
                it.next();
                let tok = match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Comma,
                };
                push(&mut out, tok, i + 1);
            }
            '=' => {
                if next == Some('=') {
                    return Err((i, "`==` is not an operator; use `=`".to_owned()));
                }
                it.next();
                push(&mut out, Tok::Op("="), i + 1);
            }
            '!' | '<' | '>' => {
                it.next();
                let op = match (c, next) {
                    ('!', Some('=')) => "!=",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    ('>', _) => ">",
                    _ => return Err((i, "expected `!=` after `!`".to_owned())),
                };
                if op.len() == 2 {
                    it.next();
                }
                push(&mut out, Tok::Op(op), i + op.len());
            }
            '\'' | '"' | '`' => {
                it.next();
                let mut text = String::new();
                let end = loop {
                    let Some((j, ch)) = it.next() else {
                        return Err((
                            i,
                            format!("unterminated quoted text; expected a closing {c}"),
                        ));
                    };
                    if ch == '\\' {
                        // A backslash takes the next character literally.
                        match it.next() {
                            Some((_, e)) => text.push(e),
                            None => {
                                return Err((
                                    i,
                                    format!("unterminated quoted text; expected a closing {c}"),
                                ));
                            }
                        }
                    } else if ch == c {
                        // A doubled quote stands for the quote itself (SQL style).
                        if it.peek().is_some_and(|&(_, n)| n == c) {
                            it.next();
                            text.push(c);
                        } else {
                            break j + 1;
                        }
                    } else {
                        text.push(ch);
                    }
                };
                push(&mut out, Tok::Quoted(text, c), end);
            }
            // A dot right after a word or quoted text separates an entity from its key
            // (`` `metric`.1x ``), even before a digit.
            '.' if out.last().is_some_and(|t: &Token| {
                t.end == i && matches!(t.tok, Tok::Quoted(..) | Tok::Word(_))
            }) =>
            {
                it.next();
                push(&mut out, Tok::Dot, i + 1);
            }
            c if c.is_ascii_digit()
                || (matches!(c, '+' | '-' | '.')
                    && next.is_some_and(|n| {
                        n.is_ascii_digit()
                            || (n == '.'
                                && src[i + 2..]
                                    .chars()
                                    .next()
                                    .is_some_and(|d| d.is_ascii_digit()))
                    })) =>
            {
                let mut end = i;
                let mut prev = ' ';
                let mut first = true;
                while let Some(&(j, ch)) = it.peek() {
                    let ok = first
                        || ch.is_ascii_alphanumeric()
                        || ch == '.'
                        || (matches!(ch, '+' | '-') && matches!(prev, 'e' | 'E'));
                    if !ok {
                        break;
                    }
                    first = false;
                    prev = ch;
                    end = j + ch.len_utf8();
                    it.next();
                }
                push(&mut out, Tok::Num(src[i..end].to_owned()), end);
            }
            '.' => {
                it.next();
                push(&mut out, Tok::Dot, i + 1);
            }
            c if word_start(c) => {
                let mut end = i;
                while let Some(&(j, ch)) = it.peek() {
                    if !word_char(ch) {
                        break;
                    }
                    end = j + ch.len_utf8();
                    it.next();
                }
                push(&mut out, Tok::Word(src[i..end].to_owned()), end);
            }
            other => return Err((i, format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_quotes_numbers_and_operators() {
        assert_eq!(
            toks("tags.mlflow.runName != 'it''s' AND metrics.`a b`>=-1e-3"),
            [
                Tok::Word("tags.mlflow.runName".into()),
                Tok::Op("!="),
                Tok::Quoted("it's".into(), '\''),
                Tok::Word("AND".into()),
                Tok::Word("metrics.".into()),
                Tok::Quoted("a b".into(), '`'),
                Tok::Op(">="),
                Tok::Num("-1e-3".into()),
            ]
        );
        assert_eq!(
            toks("`metric`.a IN ('x\\'y', \"z\")"),
            [
                Tok::Quoted("metric".into(), '`'),
                Tok::Dot,
                Tok::Word("a".into()),
                Tok::Word("IN".into()),
                Tok::LParen,
                Tok::Quoted("x'y".into(), '\''),
                Tok::Comma,
                Tok::Quoted("z".into(), '"'),
                Tok::RParen,
            ]
        );
    }

    #[test]
    fn errors_carry_the_byte_offset() {
        assert_eq!(lex("a == 1").unwrap_err().0, 2);
        assert_eq!(lex("a = 'x").unwrap_err().0, 4);
        assert_eq!(lex("a = 1 $").unwrap_err().0, 6);
        assert_eq!(lex("a ! 1").unwrap_err().0, 2);
    }
}
