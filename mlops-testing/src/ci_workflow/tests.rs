//! Tests of the workflow generator: rendering, parsing back, validation, tricky scalars.

use super::*;
use proptest::prelude::*;

fn parse(yaml: &str) -> serde_json::Value {
    serde_saphyr::from_str::<serde_json::Value>(yaml)
        .unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{yaml}"))
}

#[test]
fn ml_pipeline_renders_and_parses_back() {
    let wf = Workflow::ml_ci_pipeline();
    let yaml = wf.to_yaml().unwrap();
    let parsed = parse(&yaml);
    assert_eq!(parsed, wf.to_node().to_json(), "{yaml}");
    assert_eq!(parsed["on"]["push"]["branches"][1], "develop");
    assert_eq!(
        parsed["jobs"]["quick-train"]["needs"],
        serde_json::json!(["unit-tests", "data-validation"])
    );
    assert_eq!(
        parsed["jobs"]["full-training"]["runs-on"],
        serde_json::json!(["self-hosted", "gpu"])
    );
    assert_eq!(parsed["jobs"]["full-training"]["timeout-minutes"], 360);
    let script = parsed["jobs"]["quick-train"]["steps"][3]["run"]
        .as_str()
        .unwrap();
    assert!(
        script.starts_with("python src/train.py \\\n  --data-sample"),
        "{script}"
    );
    assert!(yaml.contains("run: |\n"), "{yaml}");
    // `on` is quoted so YAML 1.1 readers do not turn it into `true`.
    assert!(yaml.contains("\"on\":"), "{yaml}");
}

#[test]
fn validation_catches_unknown_needs_cycles_and_more() {
    let step = || Step::run("x", "echo x");
    let wf = |jobs: Vec<Job>| {
        let mut w = Workflow::new("w").on_workflow_dispatch();
        w.jobs = jobs;
        w
    };
    let err = wf(vec![Job::new("a").needs(["b"]).step(step())])
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("unknown job b"), "{err}");
    let err = wf(vec![
        Job::new("a").needs(["c"]).step(step()),
        Job::new("b").needs(["a"]).step(step()),
        Job::new("c").needs(["b"]).step(step()),
    ])
    .validate()
    .unwrap_err();
    assert!(err.to_string().contains("cycle: a -> c -> b -> a"), "{err}");
    let err = wf(vec![Job::new("a").needs(["a"]).step(step())])
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("needs itself"), "{err}");
    assert!(wf(vec![Job::new("a")]).validate().is_err(), "no steps");
    assert!(wf(vec![Job::new("1a").step(step())]).validate().is_err());
    assert!(
        wf(vec![Job::new("a").step(step()), Job::new("a").step(step())])
            .validate()
            .is_err()
    );
    assert!(wf(vec![]).validate().is_err());
    assert!(
        Workflow::new("w")
            .job(Job::new("a").step(step()))
            .validate()
            .is_err(),
        "no trigger"
    );
    assert!(
        wf(vec![
            Job::new("a").runs_on(Vec::<String>::new()).step(step())
        ])
        .validate()
        .is_err()
    );
    wf(vec![
        Job::new("a").step(step()),
        Job::new("b").needs(["a"]).step(step()),
    ])
    .validate()
    .unwrap();
}

#[test]
fn tricky_scalars_survive() {
    let nasty = [
        "yes",
        "on",
        "NO",
        "null",
        "~",
        "123",
        "1.5",
        "0x1F",
        "-",
        "- item",
        ": x",
        "a: b",
        "# c",
        "x #y",
        "'q'",
        "\"d\"",
        "[1]",
        "{a}",
        "*ref",
        "&a",
        "!tag",
        "%x",
        "@x",
        "`x",
        "",
        " lead",
        "trail ",
        "a\tb",
        "\u{85}next",
        "line1\nline2",
        "  indented\nx",
        "\n",
        "x\n\n",
        "\u{2028}",
        "é ü 漢字",
        "${{ secrets.X }}",
        "|",
        ">",
        "?",
        "a\\b",
    ];
    let mut job = Job::new("j");
    for (i, s) in nasty.iter().enumerate() {
        job = job
            .step(Step::run(*s, format!("echo {i}")).env(format!("K{i}"), *s))
            .step(Step::run(format!("s{i}"), format!("{s}x")));
    }
    let wf = Workflow::new("w: \"q\"")
        .on_workflow_dispatch()
        .env("on", "off")
        .job(job);
    let yaml = wf.to_yaml().unwrap();
    assert_eq!(parse(&yaml), wf.to_node().to_json(), "{yaml}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_strings_roundtrip(
        name in "\\PC{0,20}",
        script in "[ -~\\n\\t]{1,60}",
        value in "\\PC{0,20}",
    ) {
        prop_assume!(!script.trim().is_empty());
        let wf = Workflow::new(format!("n{name}"))
            .on_push(EventFilter::branches([value.clone()]))
            .env("V", value.clone())
            .job(Job::new("a").step(Step::run(name.clone(), script.clone()).with("ignored", "x")));
        let yaml = wf.to_yaml().unwrap();
        let parsed = serde_saphyr::from_str::<serde_json::Value>(&yaml);
        prop_assert!(parsed.is_ok(), "{yaml}");
        prop_assert_eq!(parsed.unwrap(), wf.to_node().to_json());
    }
}
