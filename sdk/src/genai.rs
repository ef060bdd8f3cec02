//! Generative-AI usage per run (an agent run, a chat call): tokens by type,
//! duration and cost, recorded with one call, [`GenAi::record_run`].
//!
//! The Python orchestrator Vigil replaces kept running sums of tokens and
//! dollars in its JSON `/metrics`. This module records the same facts as the
//! OpenTelemetry [gen-AI semantic conventions] (Development status) define
//! them, and adds what they do not cover under the service's namespace:
//!
//! | instrument | kind, unit | attributes |
//! |---|---|---|
//! | `gen_ai.client.token.usage` | histogram, `{token}` | base + `gen_ai.token.type` = `input` / `output` |
//! | `gen_ai.client.operation.duration` | histogram, `s` | base + `error.type` when the run failed |
//! | `{ns}.gen_ai.client.cache.token.usage` | histogram, `{token}` | base + `gen_ai.token.type` = `cache_read` / `cache_creation` |
//! | `{ns}.gen_ai.client.cost.usd` | counter (f64), `{USD}` | base |
//!
//! The base attributes are `gen_ai.operation.name`, `gen_ai.provider.name`
//! (the current name; `gen_ai.system` is its deprecated predecessor),
//! `gen_ai.request.model` and, when given, `gen_ai.agent.name`.
//!
//! ```
//! use std::time::Duration;
//! use vigil::genai::{GenAi, Operation, Provider, Run, Usage};
//!
//! let genai = GenAi::builder().build();
//! genai.record_run(&Run {
//!     operation: Operation::InvokeAgent,
//!     provider: Provider::ANTHROPIC,
//!     model: "claude-sonnet-4".into(),
//!     agent: Some("triage".into()),
//!     usage: Usage { input: 1200, output: 300, cache_read: 8000, cache_creation: 0 },
//!     cost_usd: 0.0123,
//!     duration: Duration::from_secs(14),
//!     error: None,
//! });
//! ```
//!
//! # Decisions
//!
//! - **Cached tokens are input tokens.** The conventions define only
//!   `input` and `output` token types and say the input count "SHOULD
//!   include all types of input tokens, including cached tokens"; cache reads
//!   and writes are separate span attributes
//!   (`gen_ai.usage.cache_read.input_tokens`,
//!   `gen_ai.usage.cache_creation.input_tokens`) that are "included in"
//!   the input count. So `input` is recorded as [`Usage::total_input`], and
//!   the breakdown goes to Vigil's own cache histogram. Making the cache
//!   counts further values of `gen_ai.token.type` on the convention's metric
//!   would count them twice in every "sum by token type" query.
//! - **A zero count is not recorded.** Each token type is a separate
//!   measurement, as the conventions ask, and a type the run did not use (an
//!   embeddings call has no output, most runs write no cache) would add a 0
//!   to its histogram's count and distort it. Sums are unaffected.
//! - **Cost** has no convention. Currency is not a UCUM unit, so it is an
//!   annotation (`{USD}`), and since Prometheus drops annotations it is also
//!   in the name: `duckgres_gen_ai_client_cost_usd_total`. A negative or
//!   non-finite cost is not recorded; zero is (a free run is still a run).
//! - **Names.** The two conventions' metrics are never namespaced. Vigil's
//!   two are, with [`crate::init::namespace`] by default; without any
//!   namespace they would sit in the `gen_ai.*` namespace the conventions
//!   own, so set one.
//! - **Cardinality.** Operation is a typed [`Operation`]; provider a
//!   [`Provider`] (the conventions' well-known values, or a custom one); model
//!   and agent are [`Free`] values, so empty ones become `unknown`. Attribute
//!   lists are cached per (operation, provider, model, agent, error), up to
//!   the cardinality limit; past it they are built per call and the SDK's
//!   overflow series takes the excess.
//!
//! [gen-AI semantic conventions]: https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use crate::labels::{Free, Label};
use crate::views;

/// The token histogram's name (semantic convention).
pub const TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// The duration histogram's name (semantic convention).
pub const OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
/// The cache-token histogram's name, before the namespace.
pub const CACHE_TOKEN_USAGE: &str = "gen_ai.client.cache.token.usage";
/// The cost counter's name, before the namespace.
pub const COST: &str = "gen_ai.client.cost.usd";

/// Attribute lists cached when no cardinality limit is set: the SDK's default.
const DEFAULT_CACHE_LIMIT: usize = 2000;

crate::label! {
    /// `gen_ai.operation.name`: the conventions' well-known operations.
    pub enum Operation = "gen_ai.operation.name" {
        /// A chat completion.
        Chat = "chat",
        /// Creating an agent.
        CreateAgent = "create_agent",
        /// Computing embeddings.
        Embeddings = "embeddings",
        /// Executing a tool.
        ExecuteTool = "execute_tool",
        /// Multimodal content generation.
        GenerateContent = "generate_content",
        /// Invoking an agent: an agent run.
        InvokeAgent = "invoke_agent",
        /// Retrieval (a vector-store search).
        Retrieval = "retrieval",
        /// A (legacy) text completion.
        TextCompletion = "text_completion",
    }
}

/// `gen_ai.provider.name`: a well-known provider or a custom one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Provider(ProviderName);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ProviderName {
    Known(&'static str),
    Custom(Free),
}

impl Provider {
    /// `anthropic`.
    pub const ANTHROPIC: Provider = Provider::known("anthropic");
    /// `aws.bedrock`.
    pub const AWS_BEDROCK: Provider = Provider::known("aws.bedrock");
    /// `azure.ai.inference`.
    pub const AZURE_AI_INFERENCE: Provider = Provider::known("azure.ai.inference");
    /// `azure.ai.openai`.
    pub const AZURE_AI_OPENAI: Provider = Provider::known("azure.ai.openai");
    /// `cohere`.
    pub const COHERE: Provider = Provider::known("cohere");
    /// `deepseek`.
    pub const DEEPSEEK: Provider = Provider::known("deepseek");
    /// `gcp.gemini` (the AI Studio API).
    pub const GCP_GEMINI: Provider = Provider::known("gcp.gemini");
    /// `gcp.gen_ai` (a Google endpoint whose backend is unknown).
    pub const GCP_GEN_AI: Provider = Provider::known("gcp.gen_ai");
    /// `gcp.vertex_ai`.
    pub const GCP_VERTEX_AI: Provider = Provider::known("gcp.vertex_ai");
    /// `groq`.
    pub const GROQ: Provider = Provider::known("groq");
    /// `ibm.watsonx.ai`.
    pub const IBM_WATSONX_AI: Provider = Provider::known("ibm.watsonx.ai");
    /// `mistral_ai`.
    pub const MISTRAL_AI: Provider = Provider::known("mistral_ai");
    /// `openai`.
    pub const OPENAI: Provider = Provider::known("openai");
    /// `perplexity`.
    pub const PERPLEXITY: Provider = Provider::known("perplexity");
    /// `x_ai`.
    pub const X_AI: Provider = Provider::known("x_ai");

    const fn known(name: &'static str) -> Self {
        Provider(ProviderName::Known(name))
    }

    /// A provider the conventions do not list (a self-hosted model server).
    /// Use the constants for those they do: the conventions require it.
    pub fn custom(name: impl Into<Free>) -> Self {
        Provider(ProviderName::Custom(name.into()))
    }

    /// The attribute value.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            ProviderName::Known(name) => name,
            ProviderName::Custom(name) => name.as_str(),
        }
    }
}

/// Tokens of one run, in four disjoint buckets (as Anthropic reports them).
///
/// `input` excludes the cached buckets. From OpenAI, whose `prompt_tokens`
/// includes `cached_tokens`, pass `input = prompt_tokens - cached_tokens`
/// and `cache_read = cached_tokens`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens neither read from nor written to a cache.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens served from a provider-managed cache.
    pub cache_read: u64,
    /// Input tokens written to a provider-managed cache.
    pub cache_creation: u64,
}

impl Usage {
    /// All input tokens, cached or not: what the conventions' `input` counts.
    pub fn total_input(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_creation)
    }
}

/// One run to record.
#[derive(Clone, Debug)]
pub struct Run {
    /// What was done.
    pub operation: Operation,
    /// Who served it.
    pub provider: Provider,
    /// `gen_ai.request.model`: the model asked for.
    pub model: Free,
    /// `gen_ai.agent.name`, for agent runs.
    pub agent: Option<Free>,
    /// Tokens used.
    pub usage: Usage,
    /// What the run cost, in US dollars.
    pub cost_usd: f64,
    /// How long it took.
    pub duration: Duration,
    /// `error.type` when the run failed: a low-cardinality class such as
    /// `timeout`, `rate_limited` or a status code, never a message.
    pub error: Option<Free>,
}

/// The gen-AI instruments; see the [module docs](self).
pub struct GenAi {
    tokens: Histogram<f64>,
    cache_tokens: Histogram<f64>,
    duration: Histogram<f64>,
    cost: Counter<f64>,
    cache_limit: usize,
    series: RwLock<HashMap<SeriesKey, Arc<Series>>>,
}

/// What a run's attributes depend on.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    operation: Operation,
    provider: Provider,
    model: Free,
    agent: Option<Free>,
    error: Option<Free>,
}

/// A run's attribute lists, one per measurement.
struct Series {
    input: Box<[KeyValue]>,
    output: Box<[KeyValue]>,
    cache_read: Box<[KeyValue]>,
    cache_creation: Box<[KeyValue]>,
    duration: Box<[KeyValue]>,
    cost: Box<[KeyValue]>,
}

impl Series {
    fn new(key: &SeriesKey) -> Self {
        let mut base = vec![
            KeyValue::new(Operation::KEY, key.operation.as_str()),
            KeyValue::new("gen_ai.provider.name", key.provider.as_str().to_string()),
            KeyValue::new("gen_ai.request.model", key.model.as_str().to_string()),
        ];
        if let Some(agent) = &key.agent {
            base.push(KeyValue::new(
                "gen_ai.agent.name",
                agent.as_str().to_string(),
            ));
        }
        let with = |extra: KeyValue| -> Box<[KeyValue]> {
            base.iter().cloned().chain(std::iter::once(extra)).collect()
        };
        let token = |kind: &'static str| with(KeyValue::new("gen_ai.token.type", kind));
        Series {
            input: token("input"),
            output: token("output"),
            cache_read: token("cache_read"),
            cache_creation: token("cache_creation"),
            duration: match &key.error {
                Some(error) => with(KeyValue::new("error.type", error.as_str().to_string())),
                None => base.clone().into(),
            },
            cost: base.clone().into(),
        }
    }
}

impl GenAi {
    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Records one run: a measurement per token type used, the duration,
    /// and the cost.
    pub fn record_run(&self, run: &Run) {
        let key = SeriesKey {
            operation: run.operation,
            provider: run.provider.clone(),
            model: run.model.clone(),
            agent: run.agent.clone(),
            error: run.error.clone(),
        };
        let series = self.series(key);
        let usage = &run.usage;
        for (tokens, histogram, attributes) in [
            (usage.total_input(), &self.tokens, &series.input),
            (usage.output, &self.tokens, &series.output),
            (usage.cache_read, &self.cache_tokens, &series.cache_read),
            (
                usage.cache_creation,
                &self.cache_tokens,
                &series.cache_creation,
            ),
        ] {
            if tokens > 0 {
                histogram.record(tokens as f64, attributes);
            }
        }
        self.duration
            .record(run.duration.as_secs_f64(), &series.duration);
        if run.cost_usd.is_finite() && run.cost_usd >= 0.0 {
            self.cost.add(run.cost_usd, &series.cost);
        }
    }

    fn series(&self, key: SeriesKey) -> Arc<Series> {
        {
            let cache = self.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(series) = cache.get(&key) {
                return series.clone();
            }
        }
        let series = Arc::new(Series::new(&key));
        let mut cache = self.series.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() < self.cache_limit {
            cache.entry(key).or_insert_with(|| series.clone());
        }
        series
    }
}

impl fmt::Debug for GenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenAi").finish_non_exhaustive()
    }
}

/// Configures [`GenAi`].
#[derive(Debug, Default)]
#[must_use = "call build() to get the instruments"]
pub struct Builder {
    meter: Option<Meter>,
    namespace: Option<String>,
    cardinality_limit: Option<usize>,
}

impl Builder {
    /// The meter to create the instruments from (default [`crate::init::meter`]).
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The prefix of Vigil's own two names (default
    /// [`crate::init::namespace`]); empty means none. The conventions' names
    /// are never prefixed.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Most series kept per instrument before the SDK folds the rest into
    /// its overflow series (default: the SDK's 2000). Models and agents are
    /// free-form: lower it if they come from outside the program. Registered
    /// by instrument name, process-wide: the largest limit asked for wins.
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    /// Registers the stream settings and creates the instruments.
    pub fn build(self) -> GenAi {
        let namespaced = |name: &str| match self.namespace.as_deref() {
            Some("") => name.to_string(),
            Some(namespace) => format!("{namespace}.{name}"),
            None => crate::init::metric_name(name),
        };
        let cache_name = namespaced(CACHE_TOKEN_USAGE);
        let cost_name = namespaced(COST);
        let limit = self.cardinality_limit;
        register(TOKEN_USAGE, limit);
        register(&cache_name, limit);
        register(OPERATION_DURATION, limit);
        register(&cost_name, limit);

        let meter = self.meter.unwrap_or_else(crate::init::meter);
        GenAi {
            tokens: meter
                .f64_histogram(TOKEN_USAGE)
                .with_unit("{token}")
                .with_boundaries(views::GEN_AI_TOKEN_BOUNDARIES.to_vec())
                .with_description("Number of input and output tokens used.")
                .build(),
            cache_tokens: meter
                .f64_histogram(cache_name)
                .with_unit("{token}")
                .with_boundaries(views::GEN_AI_TOKEN_BOUNDARIES.to_vec())
                .with_description(
                    "Number of input tokens read from or written to a provider cache.",
                )
                .build(),
            duration: meter
                .f64_histogram(OPERATION_DURATION)
                .with_unit("s")
                .with_boundaries(views::GEN_AI_DURATION_BOUNDARIES.to_vec())
                .with_description("GenAI operation duration.")
                .build(),
            cost: meter
                .f64_counter(cost_name)
                .with_unit("{USD}")
                .with_description("Cost of GenAI operations in US dollars.")
                .build(),
            cache_limit: limit.unwrap_or(DEFAULT_CACHE_LIMIT),
            series: RwLock::default(),
        }
    }
}

/// Registers `name`'s cardinality limit. The registry is keyed by name and
/// shared by every instance, so a limit only grows: the largest one asked
/// for wins, and an instance that asks for none keeps the current one.
fn register(name: &str, limit: Option<usize>) {
    if let Some(limit) = limit {
        views::register(name, views::Spec::cardinality(limit));
    }
}

#[cfg(test)]
mod tests;
