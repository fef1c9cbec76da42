//! The search cases: filters, orders and pages.

use super::{Capabilities, Subject, add, alias, kind_of, reopen, v};
use crate::model::Stage;
use crate::store::{Change, NewModel, RegistryStore, Search};

pub fn search_versions(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    for name in ["a", "b"] {
        store.create_registered_model(&NewModel::new(name)).unwrap();
        for acc in [0.7, 0.8, 0.9] {
            add(store, name, acc);
        }
    }
    let c = Change::default();
    store
        .transition_stage("a", v(3), Stage::Production, false, &c)
        .unwrap();
    store.set_alias("b", &alias("champion"), v(2), &c).unwrap();
    store.set_version_tag("a", v(1), "team", "nlp").unwrap();
    let again = reopen(subject);
    let find = |f: &str| -> Vec<String> {
        let search = Search::filter(f)
            .unwrap()
            .order_by("name")
            .order_by("version_number DESC");
        again
            .search_model_versions(&search)
            .unwrap()
            .items
            .iter()
            .map(|x| format!("{}{}", x.name, x.version))
            .collect()
    };
    assert_eq!(find("name = 'a'"), ["a3", "a2", "a1"]);
    assert_eq!(find(""), ["a3", "a2", "a1", "b3", "b2", "b1"]);
    assert_eq!(find("run_id = 'run-0.8'"), ["a2", "b2"]);
    assert_eq!(find("current_stage = 'production'"), ["a3"]);
    assert_eq!(find("alias = 'champion'"), ["b2"]);
    assert_eq!(find("tags.team = 'nlp'"), ["a1"]);
    assert_eq!(find("name LIKE 'b%' AND version_number >= 2"), ["b3", "b2"]);
    assert_eq!(find("metrics.accuracy > 0.85"), ["a3", "b3"]);
    assert_eq!(
        find("name IN ('b') AND version_number NOT IN (1, 3)"),
        ["b2"]
    );
    assert_eq!(find("name = 'missing'"), Vec::<String>::new());
    let limited = again
        .search_model_versions(&Search::filter("name = 'b'").unwrap().max_results(2))
        .unwrap();
    assert_eq!(limited.items.len(), 2);
    assert!(limited.next_page_token.is_some());
    let err = Search::filter("name = 'a' OR name = 'b'").unwrap_err();
    assert!(err.to_string().contains("OR is not supported"), "{err}");
}

pub fn search_models(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    store
        .create_registered_model(&NewModel::new("text-clf").tag("team", "nlp"))
        .unwrap();
    store
        .create_registered_model(&NewModel::new("churn"))
        .unwrap();
    store
        .create_registered_model(&NewModel::new("text-gen"))
        .unwrap();
    let again = reopen(subject);
    let names = |f: &str| -> Vec<String> {
        again
            .search_registered_models(&Search::filter(f).unwrap())
            .unwrap()
            .items
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    assert_eq!(names(""), ["churn", "text-clf", "text-gen"]);
    assert_eq!(names("name LIKE 'text%'"), ["text-clf", "text-gen"]);
    assert_eq!(names("name ILIKE 'TEXT-C%'"), ["text-clf"]);
    assert_eq!(names("tags.team = 'nlp'"), ["text-clf"]);
    let err = again
        .search_registered_models(&Search::filter("run_id = 'x'").unwrap())
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid");
    // A model created through another handle shows up.
    store
        .create_registered_model(&NewModel::new("zeta"))
        .unwrap();
    assert_eq!(names("").last().map(String::as_str), Some("zeta"));
}

/// Every page of `search`, following the tokens; checks each page's size and that the
/// last page, and only it, has no token.
fn all_pages<T>(
    page_size: usize,
    search: &Search,
    run: &dyn Fn(&Search) -> crate::Result<crate::Page<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut s = search.clone().max_results(page_size);
    for _ in 0..100 {
        let page = run(&s).unwrap();
        assert!(
            page.items.len() <= page_size,
            "page larger than {page_size}"
        );
        out.extend(page.items);
        match page.next_page_token {
            Some(t) => s.page_token = Some(t),
            None => return out,
        }
    }
    panic!("paging with size {page_size} did not end");
}

pub fn search_order_and_pages(subject: &Subject<dyn RegistryStore>, _caps: &Capabilities) {
    let store = &*subject.store;
    for name in ["b", "a", "c"] {
        store.create_registered_model(&NewModel::new(name)).unwrap();
    }
    for (name, n) in [("a", 3), ("b", 4), ("c", 2), ("a", 2)] {
        for _ in 0..n {
            add(store, name, 0.5);
        }
    }
    store.update_model_version("a", v(1), "touched").unwrap();
    store.update_registered_model("b", "touched").unwrap();
    let again = reopen(subject);
    let key = |x: &crate::ModelVersion| format!("{}{}", x.name, x.version);
    let find = |search: Search| -> Vec<String> {
        again
            .search_model_versions(&search)
            .unwrap()
            .items
            .iter()
            .map(key)
            .collect()
    };
    // Without clauses, MLflow's default order: most recently updated first, then name
    // ascending, then version descending. Explicit orders, most significant clause first.
    let mut want = again.search_model_versions(&Search::all()).unwrap().items;
    want.sort_by(|x, y| {
        y.updated_at
            .cmp(&x.updated_at)
            .then_with(|| x.name.cmp(&y.name))
            .then_with(|| y.version.cmp(&x.version))
    });
    assert_eq!(
        find(Search::all()),
        want.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(
        find(
            Search::all()
                .order_by("name")
                .order_by("version_number DESC")
        ),
        [
            "a5", "a4", "a3", "a2", "a1", "b4", "b3", "b2", "b1", "c2", "c1"
        ]
    );
    assert_eq!(
        find(
            Search::filter("name = 'a'")
                .unwrap()
                .order_by("version_number")
        ),
        ["a1", "a2", "a3", "a4", "a5"]
    );
    assert_eq!(
        find(Search::all().order_by("name DESC")),
        [
            "c2", "c1", "b4", "b3", "b2", "b1", "a5", "a4", "a3", "a2", "a1"
        ]
    );
    assert_eq!(
        find(
            Search::all()
                .order_by("version_number desc")
                .order_by("name ASC")
        )[..4],
        ["a5", "a4", "b4", "a3"]
    );
    // Timestamps: the reference order is computed here from the returned records.
    let all = again.search_model_versions(&Search::all()).unwrap().items;
    let by = |clause: &str,
              f: &dyn Fn(&crate::ModelVersion) -> chrono::DateTime<chrono::Utc>,
              asc: bool| {
        let mut want = all.clone();
        want.sort_by(|x, y| {
            let o = f(x).cmp(&f(y));
            let o = if asc { o } else { o.reverse() };
            o.then_with(|| x.name.cmp(&y.name))
                .then_with(|| y.version.cmp(&x.version))
        });
        assert_eq!(
            find(Search::all().order_by(clause)),
            want.iter().map(key).collect::<Vec<_>>(),
            "{clause}"
        );
    };
    by("creation_timestamp", &|x| x.created_at, true);
    by("creation_timestamp DESC", &|x| x.created_at, false);
    by("last_updated_timestamp DESC", &|x| x.updated_at, false);
    let a1 = all.iter().find(|x| key(x) == "a1").unwrap();
    assert!(all.iter().all(|x| x.updated_at <= a1.updated_at));

    // Paging through all results returns every item exactly once, in order.
    let orders: [&[&str]; 4] = [
        &[],
        &["version_number ASC"],
        &["creation_timestamp DESC"],
        &["last_updated_timestamp", "name DESC"],
    ];
    for order in orders {
        let mut search = Search::all();
        for c in order {
            search = search.order_by(*c);
        }
        let full = find(search.clone());
        assert_eq!(full.len(), 11);
        for size in [1, 2, 3, 4, 10, 11, 50] {
            let paged: Vec<String> = all_pages(size, &search, &|s| again.search_model_versions(s))
                .iter()
                .map(key)
                .collect();
            assert_eq!(paged, full, "order {order:?}, page size {size}");
        }
        let filtered = Search::filter("name = 'b'").unwrap();
        let paged = all_pages(3, &filtered, &|s| again.search_model_versions(s));
        assert_eq!(
            paged.iter().map(key).collect::<Vec<_>>(),
            ["b4", "b3", "b2", "b1"]
        );
    }
    let models = |search: &Search| -> Vec<String> {
        all_pages(2, search, &|s| again.search_registered_models(s))
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    assert_eq!(models(&Search::all()), ["a", "b", "c"]);
    assert_eq!(
        models(&Search::all().order_by("name DESC")),
        ["c", "b", "a"]
    );
    let mut want = again
        .search_registered_models(&Search::all())
        .unwrap()
        .items;
    want.sort_by(|x, y| {
        y.updated_at
            .cmp(&x.updated_at)
            .then_with(|| x.name.cmp(&y.name))
    });
    assert_eq!(
        models(&Search::all().order_by("last_updated_timestamp DESC")),
        want.into_iter().map(|m| m.name).collect::<Vec<_>>()
    );
    // MLflow reads `timestamp` as the last update and refuses `creation_timestamp` for models.
    assert_eq!(
        models(&Search::all().order_by("timestamp ASC")),
        models(&Search::all().order_by("last_updated_timestamp"))
    );
    let err = again
        .search_registered_models(&Search::all().order_by("creation_timestamp"))
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid", "{err}");
    // A zero page size is one empty last page.
    let empty = again
        .search_model_versions(&Search::all().max_results(0))
        .unwrap();
    assert!(empty.items.is_empty() && empty.next_page_token.is_none());

    // Bad clauses and tokens are invalid arguments naming the problem.
    for bad in ["stage", "name sideways", "name ASC please", "", "tags.x"] {
        let err = again
            .search_model_versions(&Search::all().order_by(bad))
            .unwrap_err();
        assert_eq!(kind_of(&err), "invalid", "{bad}: {err}");
        assert!(err.to_string().contains("order_by"), "{err}");
    }
    let err = again
        .search_model_versions(
            &Search::filter("name = 'missing'")
                .unwrap()
                .order_by("bogus"),
        )
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid", "{err}");
    let err = again
        .search_registered_models(&Search::all().order_by("version_number"))
        .unwrap_err();
    assert_eq!(kind_of(&err), "invalid", "{err}");
    let versions_err = again
        .search_model_versions(&Search::all().page_token("not-a-token"))
        .unwrap_err();
    let models_err = again
        .search_registered_models(&Search::all().page_token("not-a-token"))
        .unwrap_err();
    for err in [versions_err, models_err] {
        assert_eq!(kind_of(&err), "invalid", "{err}");
        assert!(err.to_string().contains("page token"), "{err}");
    }
}
