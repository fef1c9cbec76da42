//! Data validation: Great Expectations semantics over every row.

use mlops_testing::{CheckStatus, Expectation, TestingError, Validator, validate::ValueType};
use proptest::prelude::*;
use serde_json::{Value, json};

fn rows(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "id": i,
                "text": format!("sample {i}"),
                "label": if i % 2 == 0 { json!(1) } else { json!(0) },
                "score": i as f64 / n as f64,
                "city": (["paris", "tokyo", "lima"][i % 3]),
            })
        })
        .collect()
}

fn run(e: Expectation, data: &[Value]) -> mlops_testing::validate::ExpectationResult {
    Validator::new(vec![e])
        .unwrap()
        .validate(data)
        .unwrap()
        .results
        .remove(0)
}

#[test]
fn seed_schema_scenario_catches_the_missing_label() {
    let data = vec![
        json!({"text": "s1", "label": 1, "id": 1}),
        json!({"text": "s2", "label": 0, "id": 2}),
        json!({"text": "s3", "id": 3}),
    ];
    let v = Validator::new(
        ["text", "label", "id"]
            .into_iter()
            .map(Expectation::not_null)
            .collect(),
    )
    .unwrap();
    let report = v.validate(&data).unwrap();
    assert!(!report.success());
    let label = &report.results[1];
    assert_eq!(label.status, CheckStatus::Failed);
    assert_eq!(label.unexpected_count, 1);
    assert_eq!(label.partial_unexpected_list[0].index, 2);
    assert!((label.unexpected_percent - 100.0 / 3.0).abs() < 1e-12);
    let check = label.to_check();
    assert!(!check.passed);
    assert!(check.name.contains("label"));
    // The message counts rows from 1, as a person reads the table (the third row); the report
    // keeps Great Expectations' 0-based index.
    assert!(check.message.contains("row 3: null"), "{}", check.message);
}

#[test]
fn all_rows_are_checked_not_a_sample() {
    let mut data = rows(1000);
    data[999]["label"] = Value::Null;
    let r = run(Expectation::not_null("label"), &data);
    assert_eq!(r.element_count, 1000);
    assert_eq!(r.unexpected_count, 1);
    assert_eq!(r.partial_unexpected_list[0].index, 999);
}

#[test]
fn partial_list_holds_the_first_twenty_with_indexes() {
    let data = rows(100);
    let r = run(Expectation::between("score", None, Some(0.5)), &data);
    assert_eq!(r.unexpected_count, 49); // 0.51 ..= 0.99
    assert_eq!(r.partial_unexpected_list.len(), 20);
    assert_eq!(r.partial_unexpected_list[0].index, 51);
    assert_eq!(r.partial_unexpected_list[19].index, 70);
    assert_eq!(r.partial_unexpected_list[0].value, json!(0.51));
}

#[test]
fn ranges_inclusive_and_exclusive() {
    let data = rows(10); // score 0.0 ..= 0.9
    assert_eq!(
        run(Expectation::between("score", Some(0.0), Some(0.9)), &data).unexpected_count,
        0
    );
    let strict = Expectation::between("score", Some(0.0), Some(0.9)).strict(true, true);
    assert_eq!(run(strict, &data).unexpected_count, 2);
    // Strings are unexpected in a numeric range.
    let mixed = vec![json!({"x": 1}), json!({"x": "1"}), json!({"x": null})];
    let r = run(Expectation::between("x", Some(0.0), Some(2.0)), &mixed);
    assert_eq!((r.unexpected_count, r.missing_count), (1, 1));
    assert!((r.unexpected_percent - 50.0).abs() < 1e-12);
}

#[test]
fn mostly_is_a_fraction_of_non_missing_values() {
    let mut data = rows(100);
    for r in data.iter_mut().take(10) {
        r["city"] = json!("oslo");
    }
    for r in data.iter_mut().skip(90) {
        r["city"] = Value::Null;
    }
    let set = || Expectation::in_set("city", [json!("paris"), json!("tokyo"), json!("lima")]);
    let r = run(set(), &data);
    assert_eq!((r.unexpected_count, r.missing_count), (10, 10));
    assert_eq!(r.status, CheckStatus::Failed);
    // 80 of 90 non-missing are expected: 0.888...
    assert_eq!(run(set().mostly(0.88), &data).status, CheckStatus::Passed);
    assert_eq!(run(set().mostly(0.89), &data).status, CheckStatus::Failed);
}

#[test]
fn types_sets_and_regexes() {
    let data = vec![
        json!({"v": 1, "s": "ab-12"}),
        json!({"v": 1.5, "s": "xy"}),
        json!({"v": "2", "s": 7}),
        json!({"v": true, "s": "cd-3"}),
    ];
    assert_eq!(
        run(Expectation::of_type("v", ValueType::Integer), &data).unexpected_count,
        3
    );
    assert_eq!(
        run(Expectation::of_type("v", ValueType::Number), &data).unexpected_count,
        2
    );
    // 1 and 1.0 are the same number.
    assert_eq!(
        run(Expectation::in_set("v", [json!(1.0), json!(true)]), &data).unexpected_count,
        2
    );
    let r = run(Expectation::matches_regex("s", r"^[a-z]{2}-\d+$"), &data);
    assert_eq!(r.unexpected_count, 2);
    let idx: Vec<usize> = r.partial_unexpected_list.iter().map(|u| u.index).collect();
    assert_eq!(idx, [1, 2]);
}

#[test]
fn uniqueness_single_and_compound() {
    let data = vec![
        json!({"a": 1, "b": "x"}),
        json!({"a": 2, "b": "x"}),
        json!({"a": 1, "b": "y"}),
        json!({"a": 3, "b": "z"}),
        json!({"a": 1.0, "b": "x"}),
        json!({"b": null}),
    ];
    let r = run(Expectation::unique("a"), &data);
    // Every occurrence of a repeated value is unexpected (1, 1, 1.0), the missing one is not.
    assert_eq!((r.unexpected_count, r.missing_count), (3, 1));
    let r = run(Expectation::compound_unique(["a", "b"]), &data);
    assert_eq!(r.unexpected_count, 2); // (1, x) twice
    assert_eq!(r.missing_count, 1);
    assert_eq!(
        r.partial_unexpected_list[0].value,
        json!({"a": 1, "b": "x"})
    );
}

#[test]
fn row_count_and_column_existence() {
    let data = rows(5);
    let r = run(Expectation::row_count_between(Some(1), Some(5)), &data);
    assert_eq!((r.status, r.observed_value), (CheckStatus::Passed, Some(5)));
    let r = run(Expectation::row_count_between(Some(6), None), &data);
    assert_eq!(r.status, CheckStatus::Failed);
    assert_eq!(
        run(Expectation::column_to_exist("id"), &data).status,
        CheckStatus::Passed
    );
    assert_eq!(
        run(Expectation::column_to_exist("nope"), &data).status,
        CheckStatus::Failed
    );
}

#[test]
fn unknown_column_is_an_error_result_not_a_pass() {
    let r = run(Expectation::not_null("labl"), &rows(3));
    assert_eq!(r.status, CheckStatus::Error);
    assert!(r.error.as_deref().unwrap().contains("labl"));
    assert_eq!(r.to_check().status, CheckStatus::Error);
}

#[test]
fn bad_expectations_are_rejected_up_front() {
    let e = Validator::new(vec![Expectation::matches_regex("s", "([a-z")]).unwrap_err();
    assert!(
        matches!(e, TestingError::InvalidArgument { what: "regex", .. }),
        "{e}"
    );
    assert!(Validator::new(vec![Expectation::not_null("a").mostly(1.5)]).is_err());
    assert!(Validator::new(vec![Expectation::not_null("a").mostly(f64::NAN)]).is_err());
    assert!(Validator::new(vec![Expectation::between("a", Some(2.0), Some(1.0))]).is_err());
    assert!(Validator::new(vec![Expectation::between("a", Some(f64::NAN), None)]).is_err());
    assert!(Validator::new(vec![Expectation::row_count_between(Some(5), Some(1))]).is_err());
    assert!(Validator::new(vec![Expectation::compound_unique(Vec::<String>::new())]).is_err());
    assert!(Validator::new(vec![Expectation::not_null("")]).is_err());
    let v = Validator::new(vec![Expectation::not_null("a")]).unwrap();
    assert!(
        v.validate(&[json!([1, 2])]).is_err(),
        "a row that is not an object"
    );
}

#[test]
fn empty_input_is_a_documented_result() {
    let v = Validator::new(vec![
        Expectation::row_count_between(Some(1), None),
        Expectation::not_null("a"),
    ])
    .unwrap();
    let r = v.validate::<Value>(&[]).unwrap();
    assert_eq!(r.results[0].status, CheckStatus::Failed);
    // No row has the column: an error, not a vacuous pass.
    assert_eq!(r.results[1].status, CheckStatus::Error);
}

#[test]
fn expectations_serialize_with_ge_names() {
    let e = Expectation::between("age", Some(0.0), Some(120.0)).mostly(0.99);
    let j = serde_json::to_value(&e).unwrap();
    assert_eq!(j["type"], "column_values_to_be_between");
    let back: Expectation = serde_json::from_value(j).unwrap();
    assert_eq!(back, e);
    assert_eq!(e.type_name(), "expect_column_values_to_be_between");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Counts agree with a direct count over the rows.
    #[test]
    fn counts_match_a_direct_count(values in proptest::collection::vec(proptest::option::of(-10i64..10), 0..60)) {
        let data: Vec<Value> = values
            .iter()
            .map(|v| v.map_or_else(|| json!({"other": 1}), |x| json!({"x": x})))
            .chain(std::iter::once(json!({"x": null})))
            .collect();
        let r = run(Expectation::between("x", Some(0.0), Some(5.0)), &data);
        let present: Vec<i64> = values.iter().flatten().copied().collect();
        let bad = present.iter().filter(|x| !(0..=5).contains(*x)).count();
        prop_assert_eq!(r.element_count, data.len());
        prop_assert_eq!(r.missing_count, data.len() - present.len());
        prop_assert_eq!(r.unexpected_count, bad);
        prop_assert_eq!(r.partial_unexpected_list.len(), bad.min(20));
        let mut seen = std::collections::HashMap::new();
        for x in &present { *seen.entry(x).or_insert(0) += 1; }
        let dup = present.iter().filter(|x| seen[x] > 1).count();
        prop_assert_eq!(run(Expectation::unique("x"), &data).unexpected_count, dup);
    }
}

/// Large inputs evaluate expectations on several threads; results keep their order and equal
/// one-at-a-time runs.
#[test]
fn parallel_validation_equals_one_at_a_time() {
    let mut data = rows(12_000);
    for i in (0..12_000).step_by(500) {
        data[i]["city"] = json!("rome");
    }
    data[5]["score"] = json!(-1.0);
    let exps = vec![
        Expectation::not_null("label"),
        Expectation::in_set("city", [json!("paris"), json!("tokyo"), json!("lima")]),
        Expectation::between("score", Some(0.0), Some(1.0)),
        Expectation::unique("id"),
        Expectation::matches_regex("text", "^sample [0-9]+$"),
    ];
    let all = Validator::new(exps.clone())
        .unwrap()
        .validate(&data)
        .unwrap();
    for (got, e) in all.results.iter().zip(exps) {
        assert_eq!(got, &run(e, &data));
    }
    // 24 unexpected values spread over every row range: the list keeps the first 20 in order.
    assert_eq!(all.results[1].unexpected_count, 24);
    let idx: Vec<usize> = all.results[1]
        .partial_unexpected_list
        .iter()
        .map(|u| u.index)
        .collect();
    assert_eq!(idx, (0..20).map(|k| k * 500).collect::<Vec<_>>());
    assert_eq!(all.results[2].partial_unexpected_list[0].index, 5);
}
