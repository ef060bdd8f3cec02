//! The gen-AI family: [`vigil::genai::GenAi`] runs of two models (an agent
//! on Anthropic's, chat calls on OpenAI's) with varying token counts, cache
//! reads, costs and the odd timeout.
//!
//! Prices are illustrative list prices per million tokens, and cache reads
//! are priced as input: the demo shows the instruments, not a bill. The
//! tally keeps per model what was recorded, in the SDK's terms (input
//! includes cached tokens, see `vigil::genai`), for the test to compare.

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::metrics::Meter;
use vigil::genai::{GenAi, Operation, Provider, Run, Usage};

use super::rng::{Rng, wave};
use super::{GenAiTotals, NAMESPACE};

/// A model the demo calls.
struct Model {
    name: &'static str,
    provider: Provider,
    operation: Operation,
    agent: Option<&'static str>,
    /// US dollars per million input and output tokens.
    price: (f64, f64),
}

/// The models' names, as recorded in `gen_ai.request.model`.
pub(super) const MODELS: [&str; 2] = ["claude-sonnet-4", "gpt-4.1-mini"];

fn models() -> [Model; 2] {
    [
        Model {
            name: MODELS[0],
            provider: Provider::ANTHROPIC,
            operation: Operation::InvokeAgent,
            agent: Some("triage"),
            price: (3.0, 15.0),
        },
        Model {
            name: MODELS[1],
            provider: Provider::OPENAI,
            operation: Operation::Chat,
            agent: None,
            price: (0.4, 1.6),
        },
    ]
}

/// The instruments, the models and what was recorded.
pub(super) struct Usages {
    genai: GenAi,
    models: [Model; 2],
    rng: Rng,
    tally: BTreeMap<&'static str, GenAiTotals>,
}

impl Usages {
    pub(super) fn new(meter: Meter, seed: u64) -> Self {
        Usages {
            genai: GenAi::builder()
                .with_meter(meter)
                .with_namespace(NAMESPACE)
                .build(),
            models: models(),
            rng: Rng::new(seed),
            tally: BTreeMap::new(),
        }
    }

    /// One run of a random model, larger at the wave's crest.
    pub(super) fn step(&mut self, tick: u64) {
        let scale = 0.3 + wave(tick, 120);
        let i = self.rng.index(self.models.len());
        let Some(model) = self.models.get(i) else {
            return;
        };
        let timed_out = self.rng.chance(1.0 / 15.0);
        let input = (self.rng.range(200, 4000) as f64 * scale) as u64;
        let usage = Usage {
            input,
            output: if timed_out {
                0
            } else {
                (self.rng.range(50, 1200) as f64 * scale) as u64
            },
            cache_read: if self.rng.chance(0.4) {
                self.rng.range(1000, 8000)
            } else {
                0
            },
            cache_creation: 0,
        };
        let cost_usd = (usage.total_input() as f64 * model.price.0
            + usage.output as f64 * model.price.1)
            / 1e6;
        let seconds = if timed_out {
            30.0
        } else {
            0.4 + usage.output as f64 / 80.0
        };
        self.genai.record_run(&Run {
            operation: model.operation,
            provider: model.provider.clone(),
            model: model.name.into(),
            agent: model.agent.map(Into::into),
            usage,
            cost_usd,
            duration: Duration::from_secs_f64(seconds),
            error: timed_out.then(|| "timeout".into()),
        });
        let totals = self.tally.entry(model.name).or_default();
        totals.runs += 1;
        totals.input_tokens += usage.total_input();
        totals.output_tokens += usage.output;
        totals.cost_usd += cost_usd;
    }

    pub(super) fn tally(&self) -> BTreeMap<&'static str, GenAiTotals> {
        self.tally.clone()
    }
}
