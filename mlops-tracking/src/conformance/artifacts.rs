//! Cases on artifacts: storing, listing, reading back, paths.

use std::collections::BTreeSet;

use super::{Capabilities, Subject, exp, is_not_found, new_run, reopen};
use crate::backend::{TrackingBackend, TrackingBackendExt};
use crate::error::TrackingError;

/// Artifacts: stored with size and SHA-256, listed, read back (checked), replaced.
pub fn artifacts(subject: &Subject<dyn TrackingBackend>, _caps: &Capabilities) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    let info = b
        .log_artifact(&r, "models/model.bin", &mut &b"hello"[..])
        .unwrap();
    assert_eq!(info.size, 5);
    assert_eq!(
        info.sha256,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    b.log_artifact(&r, "plots/curve.png", &mut &[0u8, 159, 146, 150][..])
        .unwrap();
    b.log_artifact(&r, "models/model.bin", &mut &b"hello, again"[..])
        .unwrap();
    for bad in ["../escape", "/abs", "a//b", ""] {
        let err = b.log_artifact(&r, bad, &mut &b"x"[..]).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{bad}: {err}"
        );
    }
    let check = |b: &dyn TrackingBackend| {
        let all = b.list_artifacts(&r, None).unwrap();
        let paths: Vec<_> = all.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["models/model.bin", "plots/curve.png"]);
        assert_eq!(all[0].size, 12);
        assert_eq!(b.list_artifacts(&r, Some("plots/")).unwrap().len(), 1);
        assert_eq!(
            b.read_artifact(&r, "models/model.bin").unwrap(),
            b"hello, again"
        );
        assert_eq!(
            b.read_artifact(&r, "plots/curve.png").unwrap(),
            [0u8, 159, 146, 150]
        );
        let err = b.open_artifact(&r, "missing.txt").err().unwrap();
        assert!(
            is_not_found(&err) && err.to_string().contains("missing.txt"),
            "{err}"
        );
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}

/// Artifact paths are any clean relative path: names MLflow's clients write (`a+b=c&d.txt`,
/// spaces, non-ASCII, `?`, `'`, `[`, `..dots`) are stored, listed and read back as given; a
/// path that is not clean (`..`, `/abs`, `a//b`, a control character) is `InvalidArgument`.
pub fn artifact_paths_with_odd_characters(
    subject: &Subject<dyn TrackingBackend>,
    caps: &Capabilities,
) {
    let b: &dyn TrackingBackend = &*subject.store;
    let e = exp(b, "exp");
    let r = new_run(b, &e, "r");
    let mut names = vec![
        "a+b=c&d.txt",
        "dir+x/sp ace ünï.txt",
        "q?uery.txt",
        "semi;colon:at@[x]*'(1).txt",
        "..dots.txt",
        "100%.txt",
        "back\\slash.txt",
    ];
    let verbatim_only = ["h#ash.txt", "p%20q.txt"];
    if caps.artifact_paths_any_character {
        names.extend(verbatim_only);
    } else {
        for name in verbatim_only {
            let err = b.log_artifact(&r, name, &mut &b"x"[..]).unwrap_err();
            assert!(
                matches!(err, TrackingError::InvalidArgument { .. }),
                "{name}: {err}"
            );
        }
    }
    for name in &names {
        let info = b
            .log_artifact(&r, name, &mut format!("content of {name}").as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.path, *name);
    }
    for bad in [
        "..",
        "a/../b",
        "./a",
        "/abs",
        "a//b",
        "a/",
        "tab\tname",
        "new\nline",
    ] {
        let err = b.log_artifact(&r, bad, &mut &b"x"[..]).unwrap_err();
        assert!(
            matches!(err, TrackingError::InvalidArgument { .. }),
            "{bad:?}: {err}"
        );
    }
    let check = |b: &dyn TrackingBackend| {
        let listed: BTreeSet<String> = b
            .list_artifacts(&r, None)
            .unwrap()
            .into_iter()
            .map(|a| a.path)
            .collect();
        let want: BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
        assert_eq!(listed, want);
        for name in &names {
            let got = b
                .read_artifact(&r, name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, format!("content of {name}").into_bytes(), "{name}");
        }
        let plus = b.list_artifacts(&r, Some("dir+x/")).unwrap();
        assert_eq!(plus.len(), 1, "{plus:?}");
    };
    check(b);
    let b = reopen(subject);
    check(&*b);
}
