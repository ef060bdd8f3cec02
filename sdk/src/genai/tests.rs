use super::*;
use crate::testing::Harness;

fn genai(h: &Harness) -> GenAi {
    GenAi::builder()
        .with_meter(h.meter())
        .with_namespace("app")
        .build()
}

fn run(model: &str, usage: Usage, cost_usd: f64) -> Run {
    Run {
        operation: Operation::InvokeAgent,
        provider: Provider::ANTHROPIC,
        model: Free::new(model),
        agent: Some(Free::new("triage")),
        usage,
        cost_usd,
        duration: Duration::from_millis(1500),
        error: None,
    }
}

const BASE: [(&str, &str); 4] = [
    ("gen_ai.operation.name", "invoke_agent"),
    ("gen_ai.provider.name", "anthropic"),
    ("gen_ai.request.model", "claude-sonnet"),
    ("gen_ai.agent.name", "triage"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    BASE.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn records_each_token_type_as_its_own_measurement() {
    let h = Harness::new();
    let g = genai(&h);
    let usage = Usage {
        input: 100,
        output: 40,
        cache_read: 1000,
        cache_creation: 200,
    };
    g.record_run(&run("claude-sonnet", usage, 0.25));
    g.record_run(&run(
        "claude-sonnet",
        Usage {
            input: 10,
            output: 5,
            ..Usage::default()
        },
        0.5,
    ));

    let input = h
        .histogram(TOKEN_USAGE, &with(&[("gen_ai.token.type", "input")]))
        .expect("input tokens");
    assert_eq!(
        (input.count, input.sum),
        (2, 1310.0),
        "input includes cached tokens"
    );
    assert_eq!(input.bounds, views::GEN_AI_TOKEN_BOUNDARIES.to_vec());
    let output = h
        .histogram(TOKEN_USAGE, &with(&[("gen_ai.token.type", "output")]))
        .expect("output tokens");
    assert_eq!((output.count, output.sum), (2, 45.0));

    let cache = "app.gen_ai.client.cache.token.usage";
    let read = h
        .histogram(cache, &with(&[("gen_ai.token.type", "cache_read")]))
        .expect("cache reads");
    assert_eq!(
        (read.count, read.sum),
        (1, 1000.0),
        "zero counts are not recorded"
    );
    let creation = h
        .histogram(cache, &with(&[("gen_ai.token.type", "cache_creation")]))
        .expect("cache writes");
    assert_eq!((creation.count, creation.sum), (1, 200.0));
    assert_eq!(
        h.series(TOKEN_USAGE).len(),
        2,
        "only input and output on the convention's metric"
    );

    assert_eq!(
        h.counter("app.gen_ai.client.cost.usd", &with(&[])),
        Some(0.75)
    );
    let duration = h
        .histogram(OPERATION_DURATION, &with(&[]))
        .expect("duration");
    assert_eq!((duration.count, duration.sum), (2, 3.0));
    assert_eq!(duration.bounds, views::GEN_AI_DURATION_BOUNDARIES.to_vec());
}

#[test]
fn empty_model_becomes_unknown_and_agent_is_optional() {
    let h = Harness::new();
    let g = genai(&h);
    let mut r = run(
        "",
        Usage {
            input: 7,
            ..Usage::default()
        },
        0.0,
    );
    r.agent = None;
    r.operation = Operation::Chat;
    r.provider = Provider::custom("ollama");
    g.record_run(&r);
    let labels = [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "ollama"),
        ("gen_ai.request.model", "unknown"),
        ("gen_ai.token.type", "input"),
    ];
    assert_eq!(h.histogram(TOKEN_USAGE, &labels).map(|v| v.sum), Some(7.0));
    h.assert_nothing_recorded("app.gen_ai.client.cache.token.usage");
    assert_eq!(
        h.counter("app.gen_ai.client.cost.usd", &labels[..3]),
        Some(0.0),
        "a free run still counts"
    );
}

#[test]
fn failed_runs_carry_error_type_on_duration_only() {
    let h = Harness::new();
    let g = genai(&h);
    let mut r = run("claude-sonnet", Usage::default(), 0.0);
    r.error = Some(Free::new("timeout"));
    g.record_run(&r);
    let duration = h
        .histogram(OPERATION_DURATION, &with(&[("error.type", "timeout")]))
        .expect("duration with error");
    assert_eq!(duration.count, 1);
    h.assert_nothing_recorded(TOKEN_USAGE);
    assert_eq!(
        h.counter("app.gen_ai.client.cost.usd", &with(&[])),
        Some(0.0)
    );
}

#[test]
fn bad_costs_are_dropped_without_panicking() {
    let h = Harness::new();
    let g = genai(&h);
    for cost in [f64::NAN, f64::INFINITY, -1.0, 0.125] {
        g.record_run(&run("claude-sonnet", Usage::default(), cost));
    }
    assert_eq!(
        h.counter("app.gen_ai.client.cost.usd", &with(&[])),
        Some(0.125)
    );
}

#[test]
fn past_the_cache_limit_runs_are_still_recorded() {
    let h = Harness::new();
    // Set the cache limit alone: a cardinality limit is registered by
    // instrument name, process-wide, and would reach the other tests.
    let mut g = genai(&h);
    g.cache_limit = 2;
    for model in ["a", "b", "c"] {
        let mut r = run(
            model,
            Usage {
                output: 1,
                ..Usage::default()
            },
            1.0,
        );
        r.agent = None;
        g.record_run(&r);
    }
    for model in ["a", "b", "c"] {
        let labels = [
            ("gen_ai.operation.name", "invoke_agent"),
            ("gen_ai.provider.name", "anthropic"),
            ("gen_ai.request.model", model),
        ];
        assert_eq!(
            h.counter("app.gen_ai.client.cost.usd", &labels),
            Some(1.0),
            "{model}"
        );
    }
    assert!(g.series.read().expect("lock").len() <= 2);
}

#[test]
fn usage_totals_saturate() {
    let usage = Usage {
        input: u64::MAX,
        output: 0,
        cache_read: 1,
        cache_creation: 1,
    };
    assert_eq!(usage.total_input(), u64::MAX);
}
