//! SQL `LIKE` / `ILIKE` over Unicode characters, as MLflow's SQL stores evaluate them.

/// Whether `text` matches the SQL `LIKE` `pattern`: `%` matches any run of characters (also
/// none), `_` exactly one character, every other pattern character itself. There is no escape
/// character (MLflow's SQL stores pass patterns through unescaped), and `%` or `_` inside `text`
/// are ordinary characters. Characters are Unicode scalar values, not bytes.
///
/// With `ignore_case` (`ILIKE`), both sides are lower-cased with Unicode's full lower-case
/// mapping ([`char::to_lowercase`]) before matching.
///
/// Runs in O(len(text) × len(pattern)) time at worst, without recursion.
///
/// ```
/// use mlops_mlflow::search::like;
/// assert!(like("modèle-1", "mod_le%", false));
/// assert!(like("%x", "%", false));
/// assert!(like("ÉTÉ", "été", true));
/// assert!(!like("abc", "a_", false));
/// ```
#[must_use]
pub fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    if ignore_case {
        let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
        like_chars(&t, &p)
    } else {
        let t: Vec<char> = text.chars().collect();
        let p: Vec<char> = pattern.chars().collect();
        like_chars(&t, &p)
    }
}

/// The matcher: greedy with backtracking to the last `%` (enough, since a later `%` can always
/// absorb what an earlier one would have).
fn like_chars(t: &[char], p: &[char]) -> bool {
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(&'%') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '_' || c == t[ti] => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: the textbook dynamic program over characters.
    fn reference(t: &[char], p: &[char]) -> bool {
        // m[i][j]: t[..i] matches p[..j].
        let mut m = vec![vec![false; p.len() + 1]; t.len() + 1];
        m[0][0] = true;
        for j in 1..=p.len() {
            m[0][j] = m[0][j - 1] && p[j - 1] == '%';
        }
        for i in 1..=t.len() {
            for j in 1..=p.len() {
                m[i][j] = match p[j - 1] {
                    '%' => m[i][j - 1] || m[i - 1][j],
                    '_' => m[i - 1][j - 1],
                    c => m[i - 1][j - 1] && c == t[i - 1],
                };
            }
        }
        m[t.len()][p.len()]
    }

    fn reference_str(text: &str, pattern: &str, ignore_case: bool) -> bool {
        let fold = |s: &str| -> Vec<char> {
            if ignore_case {
                s.chars().flat_map(char::to_lowercase).collect()
            } else {
                s.chars().collect()
            }
        };
        reference(&fold(text), &fold(pattern))
    }

    #[test]
    fn examples_from_the_issue() {
        // `%` inside the text is an ordinary character; the pattern's `%` matches it.
        assert!(like("%x", "%", false));
        assert!(like("100%", "100_", false));
        assert!(like("a%b", "a%%b", false));
        // `_` is one character, not one byte.
        assert!(like("modèl", "mod_l", false));
        assert!(like("模型", "__", false));
        assert!(!like("模型", "___", false));
        assert!(like("", "%", false));
        assert!(!like("", "_", false));
        assert!(like("ÄB", "äb", true));
        assert!(!like("ÄB", "äb", false));
        assert!(like("jamie-foo C+W bar", "jamie-foo C+%", false));
    }

    fn chars() -> impl Strategy<Value = char> {
        // Mostly a small alphabet (so patterns match often), with wildcards, case pairs and
        // arbitrary Unicode.
        prop_oneof![
            3 => prop::sample::select(vec!['a', 'b', 'A', 'é', 'É', '%', '_', 'ß', 'İ', '模']),
            1 => any::<char>(),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(chars(), 0..10).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn like_agrees_with_the_reference(t in text(), p in text(), ic in any::<bool>()) {
            prop_assert_eq!(like(&t, &p, ic), reference_str(&t, &p, ic), "{:?} LIKE {:?}", t, p);
        }

        #[test]
        fn like_on_arbitrary_unicode(t in "\\PC{0,16}", p in "\\PC{0,8}", ic in any::<bool>()) {
            prop_assert_eq!(like(&t, &p, ic), reference_str(&t, &p, ic));
        }

        #[test]
        fn text_matches_itself_with_wildcards_kept_literal(t in text()) {
            // Each `%`/`_` of the text used as a pattern still matches itself.
            prop_assert!(like(&t, &t, false));
            prop_assert!(like(&t, "%", false));
            let underscores: String = t.chars().map(|_| '_').collect();
            prop_assert!(like(&t, &underscores, false));
        }
    }
}
