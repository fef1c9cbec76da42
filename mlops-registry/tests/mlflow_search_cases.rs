//! MLflow's own model-registry search cases as data: the same accept/reject decisions, the same
//! matching models and versions, the same orders, through the in-memory and file backends.
//!
//! Sources (MLflow's repository): `tests/store/model_registry/test_sqlalchemy_store.py`
//! (`test_search_model_versions`, `test_search_model_versions_order_by_simple`,
//! `test_search_model_versions_order_by_errors`, `test_search_model_versions_by_tag`,
//! `test_search_registered_models`, `test_search_registered_models_by_tag`,
//! `test_parse_search_registered_models_order_by`, `test_search_registered_model_order_by`,
//! `test_search_registered_model_order_by_errors`) and `tests/utils/test_search_utils.py`
//! (`test_invalid_order_by_search_registered_models`). Where this crate deliberately accepts
//! more (keys such as `current_stage`, `alias` or `metrics.<key>`), the rows below do not test it.
#![allow(missing_docs)]

use std::time::Duration;

use mlops_registry::{
    Change, FileRegistry, InMemoryRegistry, NewModel, NewVersion, RegistryStore, RegistryStoreExt,
    Search,
};

fn pause() {
    // Distinct timestamps for the orders by time.
    std::thread::sleep(Duration::from_millis(3));
}

fn stores() -> Vec<(Box<dyn RegistryStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = FileRegistry::open(dir.path()).unwrap().with_fsync(false);
    vec![
        (Box::new(InMemoryRegistry::new()), None),
        (Box::new(file), Some(dir)),
    ]
}

fn versions(r: &dyn RegistryStore, filter: &str, order: &[&str]) -> Vec<String> {
    let mut s = Search::filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    for o in order {
        s = s.order_by(*o);
    }
    r.search_model_versions(&s)
        .unwrap_or_else(|e| panic!("{filter} {order:?}: {e}"))
        .items
        .iter()
        .map(|v| format!("{}/{}", v.name, v.version))
        .collect()
}

fn models(r: &dyn RegistryStore, filter: &str, order: &[&str]) -> Vec<String> {
    let mut s = Search::filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    for o in order {
        s = s.order_by(*o);
    }
    r.search_registered_models(&s)
        .unwrap_or_else(|e| panic!("{filter} {order:?}: {e}"))
        .items
        .into_iter()
        .map(|m| m.name)
        .collect()
}

fn version_search_fails(r: &dyn RegistryStore, filter: &str, order: &[&str]) -> bool {
    let Ok(mut s) = Search::filter(filter) else {
        return true;
    };
    for o in order {
        s = s.order_by(*o);
    }
    r.search_model_versions(&s).is_err()
}

fn model_search_fails(r: &dyn RegistryStore, filter: &str, order: &[&str]) -> bool {
    let Ok(mut s) = Search::filter(filter) else {
        return true;
    };
    for o in order {
        s = s.order_by(*o);
    }
    r.search_registered_models(&s).is_err()
}

/// `test_search_model_versions` and `test_search_model_versions_by_tag`.
#[test]
fn version_filters_match_mlflow() {
    const RUN1: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const RUN2: &str = "1a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const RUN3: &str = "2a1b2c3d4e5f60718293a4b5c6d7e8f9";
    for (r, _guard) in stores() {
        let r = &*r;
        let m = "test_for_search_MV";
        for (source, run, tags) in [
            ("A/B", RUN1, &[("t1", "abc"), ("t2", "xyz")][..]),
            ("A/C", RUN2, &[("t1", "abc"), ("t2", "x123")][..]),
            ("A/D", RUN2, &[][..]),
            ("A/D", RUN3, &[][..]),
        ] {
            let mut v = NewVersion::new(m, source).run_id(run);
            for (k, val) in tags {
                v = v.tag(*k, *val);
            }
            r.register_version(&v).unwrap();
            pause();
        }
        let set = |f: &str| -> Vec<u64> {
            let mut v: Vec<u64> = versions(r, f, &[])
                .iter()
                .map(|s| s.rsplit('/').next().unwrap().parse().unwrap())
                .collect();
            v.sort_unstable();
            v
        };
        let cases: &[(&str, &[u64])] = &[
            ("name='test_for_search_MV'", &[1, 2, 3, 4]),
            ("version_number=2", &[2]),
            ("version_number<=3", &[1, 2, 3]),
            (&format!("run_id='{RUN1}'"), &[1]),
            (&format!("run_id='{RUN2}'"), &[2, 3]),
            (&format!("run_id IN ('{RUN1}','{RUN2}')"), &[1, 2, 3]),
            (
                &format!("run_id IN ('{}','{RUN2}')", RUN1.to_uppercase()),
                &[2, 3],
            ),
            (&format!("run_id IN ('{RUN1}', '{RUN2}')"), &[1, 2, 3]),
            (&format!("run_id LIKE '{}%'", &RUN2[..30]), &[2, 3]),
            (
                &format!("run_id ILIKE '{}%'", RUN2[..30].to_uppercase()),
                &[2, 3],
            ),
            ("source_path = 'A/D'", &[3, 4]),
            ("source_path = 'A'", &[]),
            ("source_path = 'A/'", &[]),
            ("source_path = ''", &[]),
            ("name = 'test_for_search_MV' and tag.t2 = 'xyz'", &[1]),
            ("name = 'wrong_name' and tag.t2 = 'xyz'", &[]),
            ("tag.`t2` = 'xyz'", &[1]),
            ("tag.t3 = 'xyz'", &[]),
            ("tag.t2 != 'xy'", &[1, 2]),
            ("tag.t2 LIKE 'xy%'", &[1]),
            ("tag.t2 LIKE 'xY%'", &[]),
            ("tag.t2 ILIKE 'xY%'", &[1]),
            ("tag.t2 LIKE 'x%'", &[1, 2]),
            ("tag.T2 = 'xyz'", &[]),
            ("tag.t1 = 'abc' and tag.t2 = 'xyz'", &[1]),
            ("tag.t1 = 'abc' and tag.t2 LIKE 'x%'", &[1, 2]),
            ("tag.t1 = 'abc' and tag.t2 LIKE 'y%'", &[]),
            ("tag.t2 like 'x%' and tag.t2 != 'xyz'", &[2]),
            // IS NULL / IS NOT NULL on tags (MLflow's grammar has them for tags and params).
            ("tags.t1 IS NULL", &[3, 4]),
            ("tags.t1 IS NOT NULL", &[1, 2]),
        ];
        for (f, want) in cases {
            assert_eq!(set(f), *want, "{f}");
        }
        for bad in [
            "run_id IN (1,2,3)",
            "run_id IN ()",
            "run_id IN (",
            "run_id IN",
            "name LIKE",
            "run_id IN (,)",
            "run_id IN ('runid1',,'runid2')",
        ] {
            assert!(version_search_fails(r, bad, &[]), "MLflow refuses {bad:?}");
        }
        // `test_search_model_versions_order_by_errors`.
        for order in [
            &["name ASC", "run_id DESC"][..],
            &["name ASC", "last_updated_timestamp DESC blah"][..],
        ] {
            assert!(
                version_search_fails(r, "name LIKE 'RM%'", order),
                "MLflow refuses {order:?}"
            );
        }
        // Deleting a version hides it.
        r.delete_model_version(m, "4".parse().unwrap(), &Change::by("t"))
            .unwrap();
        assert_eq!(set(""), [1, 2, 3]);
        assert_eq!(set("source_path = 'A/D'"), [3]);
    }
}

/// `test_search_model_versions_order_by_simple`: the default order is the last update,
/// newest first.
#[test]
fn version_orders_match_mlflow() {
    for (r, _guard) in stores() {
        let r = &*r;
        let names = ["RM1", "RM2", "RM3", "RM4", "RM1", "RM4"];
        for (i, n) in names.iter().enumerate() {
            let source = if i < 3 { "A" } else { "B" };
            r.register_version(&NewVersion::new(*n, source)).unwrap();
            pause();
        }
        assert_eq!(
            versions(r, "", &[]),
            ["RM4/2", "RM1/2", "RM4/1", "RM3/1", "RM2/1", "RM1/1"]
        );
        assert_eq!(
            versions(r, "", &["name DESC"]),
            ["RM4/2", "RM4/1", "RM3/1", "RM2/1", "RM1/2", "RM1/1"]
        );
        assert_eq!(
            versions(r, "", &["version_number DESC"]),
            ["RM1/2", "RM4/2", "RM1/1", "RM2/1", "RM3/1", "RM4/1"]
        );
        assert_eq!(
            versions(r, "", &["creation_timestamp DESC"]),
            ["RM4/2", "RM1/2", "RM4/1", "RM3/1", "RM2/1", "RM1/1"]
        );
        r.update_model_version("RM1", "1".parse().unwrap(), "latest updated")
            .unwrap();
        assert_eq!(
            versions(r, "", &["last_updated_timestamp ASC"])
                .last()
                .unwrap(),
            "RM1/1"
        );
        // The default order follows the update too.
        assert_eq!(versions(r, "", &[])[0], "RM1/1");
        // `versions()` still lists a model's versions oldest first.
        let listed: Vec<u64> = r
            .versions("RM1")
            .unwrap()
            .iter()
            .map(|v| v.version.get())
            .collect();
        assert_eq!(listed, [1, 2]);
    }
}

/// `test_search_registered_models` and `test_search_registered_models_by_tag`.
#[test]
fn model_filters_match_mlflow() {
    for (r, _guard) in stores() {
        let r = &*r;
        let prefix = "test_for_search_";
        let names: Vec<String> = ["RM1", "RM2", "RM3", "RM4", "RM4A", "RM4ab"]
            .iter()
            .map(|n| format!("{prefix}{n}"))
            .collect();
        for n in &names {
            r.create_registered_model(&NewModel::new(n.as_str()))
                .unwrap();
        }
        let n = |range: std::ops::Range<usize>| names[range].to_vec();
        let cases: Vec<(String, Vec<String>)> = vec![
            (String::new(), n(0..6)),
            (format!("name='{}'", names[0]), n(0..1)),
            (format!("name='{}cats'", names[0]), vec![]),
            (format!("name LIKE '{prefix}%'"), n(0..6)),
            ("name LIKE '%RM%'".into(), n(0..6)),
            ("name LIKE '_e%'".into(), n(0..6)),
            (format!("name LIKE '{prefix}RM4A%'"), n(4..5)),
            (format!("name LIKE '{prefix}cats%'"), vec![]),
            ("name lIkE '%blah%'".into(), vec![]),
            (format!("name like '{prefix}RM4A%'"), n(4..5)),
            (format!("name ILIKE '{prefix}RM4A%'"), n(4..6)),
            ("name ILIKE '%RM4a%'".into(), n(4..6)),
            (format!("name ILIKE '{prefix}cats%'"), vec![]),
            ("name iLike '%blah%'".into(), vec![]),
            ("name iLike '%%'".into(), n(0..6)),
            ("name ilike '%RM4a%'".into(), n(4..6)),
        ];
        for (f, want) in &cases {
            assert_eq!(models(r, f, &[]), *want, "{f}");
        }
        for bad in [
            "name!=something",
            "run_id='somerunID'",
            "source_path = 'A/D'",
            "evilhax = true",
        ] {
            assert!(model_search_fails(r, bad, &[]), "MLflow refuses {bad:?}");
        }
        r.delete_registered_model(&names[5]).unwrap();
        assert_eq!(
            models(r, &format!("name='{}'", names[5]), &[]),
            Vec::<String>::new()
        );
        assert_eq!(
            models(r, &format!("name ILIKE '{prefix}RM4A%'"), &[]),
            n(4..5)
        );

        let (t1, t2) = ("test_for_search_RM_by_tag1", "test_for_search_RM_by_tag2");
        r.create_registered_model(&NewModel::new(t1).tag("t1", "abc").tag("t2", "xyz"))
            .unwrap();
        r.create_registered_model(
            &NewModel::new(t2)
                .tag("t1", "abcd")
                .tag("t2", "xyz123")
                .tag("t3", "XYZ"),
        )
        .unwrap();
        let by_tag: &[(&str, &[&str])] = &[
            ("tag.t3 = 'XYZ'", &[t2]),
            (
                "name = 'test_for_search_RM_by_tag1' and tag.t1 = 'abc'",
                &[t1],
            ),
            ("tag.t1 LIKE 'ab%'", &[t1, t2]),
            ("tag.t1 ILIKE 'aB%'", &[t1, t2]),
            ("tag.t1 LIKE 'ab%' AND tag.t2 LIKE 'xy%'", &[t1, t2]),
            ("tag.t3 = 'XYz'", &[]),
            ("tag.T3 = 'XYZ'", &[]),
            ("tag.t1 != 'abc'", &[t2]),
            ("tag.t1 != 'abcd' and tag.t1 LIKE 'ab%'", &[t1]),
        ];
        for (f, want) in by_tag {
            assert_eq!(models(r, f, &[]), *want, "{f}");
        }
    }
}

/// `test_search_registered_model_order_by`, `test_parse_search_registered_models_order_by`,
/// `test_search_registered_model_order_by_errors` and
/// `test_invalid_order_by_search_registered_models`.
#[test]
fn model_orders_match_mlflow() {
    for (r, _guard) in stores() {
        let r = &*r;
        let rms: Vec<String> = (0..8).map(|i| format!("RM{i:03}")).collect();
        for n in &rms {
            r.create_registered_model(&NewModel::new(n.as_str()))
                .unwrap();
            pause();
        }
        let rev: Vec<String> = rms.iter().rev().cloned().collect();
        let q = "name LIKE 'RM%'";
        assert_eq!(models(r, q, &["name DESC"]), rev);
        assert_eq!(models(r, q, &["last_updated_timestamp DESC"]), rev);
        assert_eq!(models(r, q, &["timestamp DESC"]), rev);
        assert_eq!(models(r, q, &["last_updated_timestamp ASC"]), rms);
        assert_eq!(models(r, q, &["timestamp ASC"]), rms);
        assert_eq!(models(r, q, &["timestamp"]), rms);
        assert_eq!(models(r, q, &["name ASC"]), rms);
        assert_eq!(models(r, q, &["last_updated_timestamp"]), rms);
        for order in [
            "timestamp\tASC",
            "timestamp\r\rASC",
            "timestamp\nASC",
            "timestamp  ASC",
            "timestamp  asc",
            "timestamp  aSC",
        ] {
            assert_eq!(models(r, q, &[order]), rms, "{order:?}");
        }
        assert_eq!(models(r, q, &["timestamp  deSc", "name deSc"]), rev);
        // `timestamp` is the last update, not the creation time: touching the first model
        // moves it to the end.
        r.update_registered_model(&rms[0], "touched").unwrap();
        let mut touched = rms[1..].to_vec();
        touched.push(rms[0].clone());
        assert_eq!(models(r, q, &["timestamp"]), touched);
        for bad in [
            &["name ASC", "creation_timestamp DESC"][..],
            &["name ASC", "last_updated_timestamp DESC blah"][..],
            &["creation_timestamp DESC"][..],
            &[""][..],
            &["timestamp somerandomstuff ASC"][..],
            &["timestamp somerandomstuff"][..],
            &["timestamp decs"][..],
            &["timestamp ACS"][..],
            &["name aCs"][..],
            &["last_updated_timestamp", "last_updated_timestamp"][..],
            &["timestamp", "timestamp"][..],
            &["timestamp", "last_updated_timestamp"][..],
            &["last_updated_timestamp ASC", "last_updated_timestamp DESC"][..],
            &["name "][..],
        ] {
            assert!(model_search_fails(r, q, bad), "MLflow refuses {bad:?}");
        }
    }
}

/// The bugs of the registry's old byte-wise matcher: a `%` inside the text was compared as a
/// literal (so `LIKE '%'` missed `%x`) and `_` matched one byte, not one character (so
/// `'mod_l'` missed `modèl`). MLflow's SQL stores match characters.
#[test]
fn like_matches_characters_and_wildcards_in_the_text() {
    for (r, _guard) in stores() {
        let r = &*r;
        for value in ["%x", "modèl", "x_y", "模型"] {
            r.register_version(&NewVersion::new("m", "s3://b/m").tag("t", value))
                .unwrap();
        }
        let tags = |f: &str| -> Vec<String> {
            let mut out: Vec<String> = r
                .search_model_versions(&Search::filter(f).unwrap())
                .unwrap()
                .items
                .into_iter()
                .map(|v| v.tags["t"].clone())
                .collect();
            out.sort();
            out
        };
        assert_eq!(tags("tags.t LIKE '%'"), ["%x", "modèl", "x_y", "模型"]);
        assert_eq!(tags("tags.t LIKE '%x'"), ["%x"]);
        assert_eq!(tags("tags.t LIKE 'mod_l'"), ["modèl"]);
        assert_eq!(tags("tags.t ILIKE 'MOD_L'"), ["modèl"]);
        assert_eq!(tags("tags.t LIKE '__'"), ["%x", "模型"]);
        assert_eq!(tags("tags.t LIKE 'x_y'"), ["x_y"]);
        assert_eq!(tags("name LIKE '%' AND tags.t LIKE '_x'"), ["%x"]);
    }
}
