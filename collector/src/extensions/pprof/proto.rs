//! The pprof profile format (`profile.proto`, package `perftools.profiles`) and the conversion of
//! a sampled CPU report into it.
//!
//! The messages are declared here, on the workspace's prost, rather than taken from the sampling
//! crate's optional codec, which would pull a second prost (and a build-time code generator) into
//! the build for seven small messages. Field numbers are the format's; only the fields Vigil
//! writes are declared (a reader skips nothing it needs: the rest default to zero).
//! Format: <https://github.com/google/pprof/blob/main/proto/profile.proto>.

use std::collections::HashMap;
use std::time::SystemTime;

/// `Profile`: the whole profile. Strings are indices into `string_table`, whose first entry is "".
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each sample value is (here: `samples/count`, `cpu/nanoseconds`).
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples: a stack and its values.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// The binaries: here only the main one, first as readers expect, already symbolized.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// The locations the samples' stacks refer to.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// The functions the locations' lines refer to.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Every string, referred to by index.
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// When the profile started, in nanoseconds since the Unix epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// How long it ran.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// What one period is (`cpu/nanoseconds`).
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The sampling period, in `period_type` units.
    #[prost(int64, tag = "12")]
    pub period: i64,
}

/// `ValueType`: a type and a unit, as string indices.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct ValueType {
    /// The type (`cpu`).
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// The unit (`nanoseconds`).
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// `Sample`: one stack, leaf first, and its values (one per `sample_type`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location ids, the leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per sample type.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Labels (here: the thread).
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// `Label`: a string key and a string value, as string indices.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Label {
    /// The key.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// The value.
    #[prost(int64, tag = "2")]
    pub str: i64,
}

/// `Mapping`: a binary loaded in the process. Readers name the first one as the profile's
/// `File:`, and the `has_*` flags tell them there is nothing left to symbolize.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Mapping {
    /// Its id (non-zero).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The binary's path.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Locations carry function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Functions carry source files.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Lines carry line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Locations list inlined functions.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// `Location`: one frame; several lines when functions were inlined into it (the caller last).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Its id (non-zero).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The functions and lines, innermost first.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

/// `Line`: a function and a line in its source.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Line {
    /// The function's id.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// The line number (0 when unknown).
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// `Function`: a name and a source file, as string indices.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Function {
    /// Its id (non-zero).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The demangled name.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// The symbol as in the binary.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// The source file ("" when unknown).
    #[prost(int64, tag = "4")]
    pub filename: i64,
}

// === impl conversion ===

/// Builds a [`Profile`], interning strings, functions and locations as they come.
#[derive(Default)]
struct Builder {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    function_ids: HashMap<(i64, i64, i64), u64>,
    functions: Vec<Function>,
    location_ids: HashMap<Vec<(u64, i64)>, u64>,
    locations: Vec<Location>,
}

impl Builder {
    fn new() -> Builder {
        let mut builder = Builder::default();
        builder.string(""); // index 0 must be the empty string
        builder
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = i64::try_from(self.strings.len()).unwrap_or(i64::MAX);
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), id);
        id
    }

    fn function(&mut self, symbol: &pprof::Symbol) -> u64 {
        let name = self.string(&symbol.name());
        let system_name = self.string(&symbol.sys_name());
        let filename = match &symbol.filename {
            Some(path) => self.string(&path.to_string_lossy()),
            None => 0,
        };
        let key = (name, system_name, filename);
        if let Some(id) = self.function_ids.get(&key) {
            return *id;
        }
        let id = self.functions.len() as u64 + 1;
        self.functions.push(Function {
            id,
            name,
            system_name,
            filename,
        });
        self.function_ids.insert(key, id);
        id
    }

    /// A frame: the symbols at one address, innermost (inlined) first.
    fn location(&mut self, frame: &[pprof::Symbol]) -> u64 {
        let lines: Vec<(u64, i64)> = frame
            .iter()
            .map(|symbol| (self.function(symbol), i64::from(symbol.lineno())))
            .collect();
        if let Some(id) = self.location_ids.get(&lines) {
            return *id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(Location {
            id,
            line: lines
                .iter()
                .map(|&(function_id, line)| Line { function_id, line })
                .collect(),
        });
        self.location_ids.insert(lines, id);
        id
    }
}

/// A stack without the sampler's own frames at its leaf end. The sampling crate drops its signal
/// handler's frame and the signal trampoline, but not the unwinder's frames that the handler
/// called (they are separate frames when not inlined, as in debug builds), which would otherwise
/// be every sample's leaf and take all the flat time.
fn own_code(frames: &[Vec<pprof::Symbol>]) -> &[Vec<pprof::Symbol>] {
    let sampler = |frame: &Vec<pprof::Symbol>| {
        frame.iter().any(|symbol| {
            let name = symbol.name();
            ["backtrace::", "<backtrace::", "pprof::", "<pprof::"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
    };
    let skip = frames.iter().take_while(|f| sampler(f)).count();
    &frames[skip..]
}

/// The profile of `report`, sampled at `hz` samples per CPU-second: values `samples/count` and
/// `cpu/nanoseconds`, as Go's CPU profiles have, and a `thread` label per sample.
pub fn from_report(report: &pprof::Report, hz: u32) -> Profile {
    let period = 1_000_000_000 / i64::from(hz.max(1));
    let mut b = Builder::new();
    let samples_type = ValueType {
        r#type: b.string("samples"),
        unit: b.string("count"),
    };
    let cpu_type = ValueType {
        r#type: b.string("cpu"),
        unit: b.string("nanoseconds"),
    };
    let thread = b.string("thread");
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let main_binary = Mapping {
        id: 1,
        filename: b.string(&exe),
        has_functions: true,
        has_filenames: true,
        has_line_numbers: true,
        has_inline_frames: true,
    };
    let mut samples = Vec::with_capacity(report.data.len());
    for (frames, count) in &report.data {
        let location_id = own_code(&frames.frames)
            .iter()
            .map(|f| b.location(f))
            .collect();
        let count = i64::try_from(*count).unwrap_or(0);
        let name = b.string(&frames.thread_name_or_id());
        samples.push(Sample {
            location_id,
            value: vec![count, count.saturating_mul(period)],
            label: vec![Label {
                key: thread,
                str: name,
            }],
        });
    }
    let since_epoch = report
        .timing
        .start_time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Profile {
        sample_type: vec![samples_type, cpu_type],
        sample: samples,
        mapping: vec![main_binary],
        location: b.locations,
        function: b.functions,
        string_table: b.strings,
        time_nanos: i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX),
        duration_nanos: i64::try_from(report.timing.duration.as_nanos()).unwrap_or(i64::MAX),
        period_type: Some(cpu_type),
        period,
    }
}
