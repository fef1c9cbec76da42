//! Parser tests on a small dialect shaped like MLflow's run search.

use proptest::prelude::*;

use super::*;

const DIALECT: Dialect = Dialect {
    entities: &[
        EntityRule::new(
            Entity::Metric,
            &["metric", "metrics"],
            Kind::Number,
            Comparator::NUMBER,
        ),
        EntityRule::new(
            Entity::Param,
            &["param", "params", "parameter", "parameters"],
            Kind::String,
            Comparator::NULLABLE_STRING,
        ),
        EntityRule::new(
            Entity::Tag,
            &["tag", "tags"],
            Kind::String,
            Comparator::NULLABLE_STRING,
        ),
    ],
    attribute_prefixes: &["attribute", "attributes", "attr", "run"],
    attributes: &[
        AttributeRule::new("run_name", &["run name"], Kind::String, Comparator::STRING),
        AttributeRule::new("run_id", &[], Kind::String, Comparator::STRING),
        AttributeRule::new("start_time", &["created"], Kind::Number, Comparator::NUMBER),
    ],
    bare_keys: true,
    expected: "metrics.<key>, params.<key>, tags.<key> or attributes.<name>",
};

fn ident(entity: Entity, key: &str) -> Ident {
    Ident {
        entity,
        key: key.to_owned(),
    }
}

fn one(src: &str) -> Clause {
    let f = Filter::parse(src, &DIALECT).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert_eq!(f.clauses().len(), 1, "{src}");
    f.clauses()[0].clone()
}

#[test]
fn identifiers_in_every_spelling() {
    for (src, entity, key) in [
        ("metrics.acc > 1", Entity::Metric, "acc"),
        ("`metric`.a >= 0.1", Entity::Metric, "a"),
        ("`metrics`.`val loss` < 1", Entity::Metric, "val loss"),
        ("`metric`.1x > 1", Entity::Metric, "1x"),
        ("\"run_id\" = 'x'", Entity::Attribute, "run_id"),
        (
            "metrics.\"accuracy.2.0\" > 5",
            Entity::Metric,
            "accuracy.2.0",
        ),
        ("tags.mlflow.runName = 'x'", Entity::Tag, "mlflow.runName"),
        ("`tags`.source_name = 'x'", Entity::Tag, "source_name"),
        ("params.'odd key' = 'x'", Entity::Param, "odd key"),
        ("attributes.`Run name` = 'x'", Entity::Attribute, "run_name"),
        ("run_name = 'x'", Entity::Attribute, "run_name"),
        ("attr.created > 3", Entity::Attribute, "start_time"),
        ("ATTRIBUTES.RUN_ID = 'x'", Entity::Attribute, "run_id"),
    ] {
        assert_eq!(one(src).ident, ident(entity, key), "{src}");
    }
}

#[test]
fn comparators_and_values() {
    let c = one("run_id IN ('a', \"b\")");
    assert_eq!(c.op, Comparator::In);
    assert_eq!(
        c.value,
        Value::List(vec![Value::Str("a".into()), Value::Str("b".into())])
    );
    let c = one("tags.t not   in ('a')");
    assert_eq!(c.op, Comparator::NotIn);
    let c = one("params.lr IS NOT NULL");
    assert_eq!((c.op, &c.value), (Comparator::IsNotNull, &Value::Null));
    let c = one("tags.t is null");
    assert_eq!(c.op, Comparator::IsNull);
    let c = one("metrics.x != -1.5e3");
    assert_eq!((c.op, &c.value), (Comparator::Ne, &Value::Num(-1500.0)));
    let c = one("params.m = 'L''Hosp'");
    assert_eq!(c.value, Value::Str("L'Hosp".into()));
    let c = one("params.m = \"L'Hosp\"");
    assert_eq!(c.value, Value::Str("L'Hosp".into()));
    let c = one("params.m = 'a\\\\b\\'c'");
    assert_eq!(c.value, Value::Str("a\\b'c".into()));
    assert!(Filter::parse("  ", &DIALECT).unwrap().clauses().is_empty());
}

#[test]
fn errors_name_position_clause_and_expectation() {
    for (src, position, clause, needle) in [
        (
            "metrics.acc >> 0.9",
            13,
            "metrics.acc >> 0.9",
            "a quoted string or a number",
        ),
        (
            "metrics.acc > 'x'",
            14,
            "metrics.acc > 'x'",
            "`metrics.acc` takes a number",
        ),
        (
            "params.p > 'x'",
            9,
            "params.p > 'x'",
            "a string comparison operator",
        ),
        ("foo.acc = 1", 0, "foo.acc = 1", "unknown key prefix `foo.`"),
        ("acc = 1", 0, "acc = 1", "unknown key `acc`"),
        (
            "metrics.a > 1 AND m.b < 2",
            18,
            "m.b < 2",
            "unknown key prefix `m.`",
        ),
        (
            "metrics.a > 1 or metrics.b < 2",
            14,
            "metrics.a > 1 or metrics.b < 2",
            "OR is not supported",
        ),
        ("params.a = 'x", 11, "params.a = 'x", "closing '"),
        ("metrics.acc", 11, "metrics.acc", "comparison operator"),
        (
            "tags.env IN 'a'",
            12,
            "tags.env IN 'a'",
            "`(` to open the IN list",
        ),
        (
            "tags.env IN ('a' 'b')",
            17,
            "tags.env IN ('a' 'b')",
            "`,` or `)`",
        ),
        ("metrics.a > 1 and", 17, "metrics.a > 1 and", "a key"),
        (
            "params.a = 'x' $",
            15,
            "params.a = 'x' $",
            "unexpected character",
        ),
        (
            "metrics.a IS NULL",
            10,
            "metrics.a IS NULL",
            "found IS NULL",
        ),
        (
            "run_id IS 'x'",
            10,
            "run_id IS 'x'",
            "NULL or NOT NULL after IS",
        ),
        (
            "metrics.a = 1e999",
            12,
            "metrics.a = 1e999",
            "is not a number",
        ),
        (
            "params.a = `LR`",
            11,
            "params.a = `LR`",
            "a quoted string or a number",
        ),
        (
            "tags.größe = 'x' nope",
            17,
            "tags.größe = 'x' nope",
            "AND or the end",
        ),
        (
            "params.a == 'x'",
            9,
            "params.a == 'x'",
            "`==` is not an operator",
        ),
        // As in MLflow: no `<>`, no words as numbers, entity types quoted with backticks only.
        ("params.a <> 'x'", 9, "params.a <> 'x'", "found <"),
        (
            "metrics.a = nan",
            12,
            "metrics.a = nan",
            "a quoted string or a number",
        ),
        (
            "\"params\".a = 'x'",
            0,
            "\"params\".a = 'x'",
            "unknown key `params`",
        ),
    ] {
        let e = Filter::parse(src, &DIALECT).unwrap_err();
        assert_eq!(e.what, "filter");
        assert_eq!(e.position, position, "{src}: {e}");
        assert_eq!(e.clause, clause, "{src}: {e}");
        assert!(e.message.contains(needle), "{src}: {e}");
    }
}

#[test]
fn matching_strings_numbers_and_nulls() {
    let m = |src: &str, v: Option<&str>| one(src).matches_str(v);
    assert!(m("params.a = 'x'", Some("x")));
    assert!(
        !m("params.a != 'x'", None),
        "a missing key never matches !="
    );
    assert!(m("params.a IS NULL", None));
    assert!(!m("params.a IS NULL", Some("")));
    assert!(m("params.a IS NOT NULL", Some("")));
    assert!(m("params.a LIKE '%'", Some("%x")));
    assert!(m("params.a ILIKE 'MOD_L%'", Some("modèle")));
    assert!(m("params.a NOT IN ('x', 'y')", Some("z")));
    let n = |src: &str, v: Option<f64>| one(src).matches_num(v);
    assert!(n("metrics.a >= 2", Some(2.0)));
    assert!(!n("metrics.a = 1", Some(f64::NAN)));
    assert!(n("metrics.a != 1", Some(f64::NAN)));
    assert!(!n("metrics.a < 1", None));
}

#[test]
fn display_parses_back() {
    let src = "metrics.`a``b` > 1 AND params.p IS NOT NULL AND tags.t IN ('x', 'it''s') \
               AND run_name LIKE 'a\\\\%'";
    let f = Filter::parse(src, &DIALECT).unwrap();
    let again = Filter::parse(&f.to_string(), &DIALECT).unwrap();
    assert_eq!(again, f, "{f}");
}

#[test]
fn order_by_clauses() {
    let o = parse_order_by(
        &[
            "metrics.`Mean Square Error` DESC",
            "attributes.start_time",
            "params.lr aSc",
            "run_name",
        ],
        &DIALECT,
        false,
    )
    .unwrap();
    assert_eq!(o[0].ident, ident(Entity::Metric, "Mean Square Error"));
    assert!(!o[0].ascending && o[1].ascending && o[2].ascending && o[3].ascending);
    assert_eq!(o[1].ident, ident(Entity::Attribute, "start_time"));
    for bad in [
        "m.acc",
        "acc",
        "`metrics.A",
        "`metrics.A`",
        "metrics.A != 1",
        "params.my_param ",
        " params.my_param",
        "attribute.run_id ACS",
        "attribute.run_id decs",
        "",
        "metrics.a DESC x",
    ] {
        let e = parse_order_by(&[bad], &DIALECT, false).unwrap_err();
        assert_eq!(e.what, "order_by clause", "{bad}");
        assert_eq!(e.clause, bad);
    }
    // MLflow splits an order_by clause shell-style, so double quotes quote an entity there
    // (unlike in a filter).
    let o = parse_order_by(&["\"params\".`lr` DESC"], &DIALECT, false).unwrap();
    assert_eq!(o[0].ident, ident(Entity::Param, "lr"));
    assert!(Filter::parse("\"params\".lr = 'x'", &DIALECT).is_err());
    let e = parse_order_by(&["metrics.a DOWN"], &DIALECT, false).unwrap_err();
    assert_eq!(e.position, 10);
    assert!(parse_order_by(&["created", "start_time DESC"], &DIALECT, false).is_ok());
    let e = parse_order_by(&["created", "start_time DESC"], &DIALECT, true).unwrap_err();
    assert!(e.message.contains("twice"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,60}") {
        if let Err(e) = Filter::parse(&s, &DIALECT) {
            prop_assert!(e.position <= s.chars().count());
        }
        let _ = parse_order_by(&[&s], &DIALECT, true);
    }

    #[test]
    fn filter_like_input_never_panics(
        s in "(metrics|params|tags|attributes|`tag`|x)?\\.?[a-z`'\" ]{0,6}(=|!=|<|>=|LIKE| IN | IS |NOT|NULL|\\(|,|\\))?[0-9.e'\"a-z ()-]{0,10}( and )?"
    ) {
        if let Err(e) = Filter::parse(&s, &DIALECT) {
            prop_assert!(e.position <= s.chars().count());
        }
    }
}
