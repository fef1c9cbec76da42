//! Runnable examples composing the mlops crates: the only place where the crates meet.
//!
//! Each binary in `src/bin/` is one example; `examples/README.md` lists them. The library part
//! holds what several examples share: a deterministic synthetic churn dataset ([`churn`]) and a
//! small logistic-regression model ([`logreg`]).

pub mod churn;
pub mod lineage;
pub mod logreg;
pub mod workflow;

/// Parse the one option every single-crate example takes, `--data DIR` (default
/// `./mlops-data`), from `args` (without the program name). `example` names the binary in the
/// usage message returned for `--help` or an unknown argument.
///
/// # Errors
/// The usage message, for `--help`, a `--data` without a folder or an unknown argument.
pub fn parse_data_dir(
    example: &str,
    args: impl IntoIterator<Item = String>,
) -> Result<std::path::PathBuf, String> {
    let usage = format!("usage: {example} [--data DIR]");
    let mut args = args.into_iter();
    let mut data = std::path::PathBuf::from("mlops-data");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next().ok_or("--data needs a folder")?.into(),
            "-h" | "--help" => return Err(usage),
            other => return Err(format!("unknown argument {other:?}; {usage}")),
        }
    }
    Ok(data)
}

/// [`parse_data_dir`] over the process's own arguments. `-h` / `--help` prints the usage and
/// exits with status 0, as command-line programs do; a bad argument is an error (the example
/// exits non-zero).
///
/// # Errors
/// As [`parse_data_dir`], except for `--help`.
pub fn data_dir_arg(example: &str) -> Result<std::path::PathBuf, String> {
    exit_on_help(&format!("usage: {example} [--data DIR]"));
    parse_data_dir(example, std::env::args().skip(1))
}

/// When the process's arguments ask for help (`-h` or `--help`), print `usage` to standard
/// output and exit with status 0; otherwise return.
#[allow(clippy::print_stdout)]
pub fn exit_on_help(usage: &str) {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{usage}");
        std::process::exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_data_dir;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn data_dir_option() {
        assert_eq!(
            parse_data_dir("x", args(&[])).unwrap(),
            std::path::Path::new("mlops-data")
        );
        assert_eq!(
            parse_data_dir("x", args(&["--data", "/tmp/d"])).unwrap(),
            std::path::Path::new("/tmp/d")
        );
        assert!(
            parse_data_dir("x", args(&["--data"]))
                .unwrap_err()
                .contains("needs a folder")
        );
        let err = parse_data_dir("demo", args(&["--bogus"])).unwrap_err();
        assert!(
            err.contains("\"--bogus\"") && err.contains("usage: demo"),
            "{err}"
        );
        assert_eq!(
            parse_data_dir("demo", args(&["-h"])).unwrap_err(),
            "usage: demo [--data DIR]"
        );
    }
}
