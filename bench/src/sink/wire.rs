//! Counts what a Prometheus remote-write message carries by walking its
//! protobuf wire format once, without building the message.
//!
//! The sink shares the machine with the collector it measures, so it does not
//! allocate the label strings and samples it only counts. It reads tags and
//! lengths and counts series, float samples, native histograms and exemplars.
//! It also checks what a decoder would check, so that a malformed body is
//! refused rather than miscounted: varints are well formed, lengths stay inside
//! the buffer, known fields have their wire type, strings are UTF-8, and 2.0
//! label references point at a symbol and come in pairs. Nested messages it
//! does not count (histograms, exemplars, metadata) are checked one level deep.
//! Series whose label names are unsorted, repeated or lack `__name__` (both
//! specifications forbid them) are counted, not refused: the benchmark shows
//! them, and a real receiver's verdict is not the sink's to guess.
//!
//! Field numbers: remote-write 1.0 `prometheus.WriteRequest`
//! (<https://prometheus.io/docs/specs/prw/remote_write_spec/>) and 2.0
//! `io.prometheus.write.v2.Request`
//! (<https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/>).

/// What one message carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// `TimeSeries` messages.
    pub(super) series: u64,
    /// Float `Sample`s.
    pub(super) float_samples: u64,
    /// Native histogram samples (one per `Histogram` message).
    pub(super) histograms: u64,
    /// `Exemplar`s.
    pub(super) exemplars: u64,
    /// Series whose label names are not strictly sorted or lack `__name__`.
    pub(super) bad_labels: u64,
}

/// Counts a remote-write 1.0 `prometheus.WriteRequest`
/// (timeseries = 1, metadata = 3).
pub(super) fn count_v1(buf: &[u8]) -> Result<Tally, String> {
    let mut tally = Tally::default();
    for field in Reader::new(buf) {
        match field.map_err(|e| format!("WriteRequest: {e}"))? {
            (1, Field::Bytes(series)) => v1_series(series, &mut tally)
                .map_err(|e| format!("timeseries[{}]: {e}", tally.series - 1))?,
            (3, Field::Bytes(metadata)) => {
                check_message(metadata).map_err(|e| format!("metadata: {e}"))?;
            }
            (n @ (1 | 3), _) => return Err(format!("WriteRequest: field {n} is not a message")),
            _ => {} // unknown fields are skipped, as protobuf decoders do
        }
    }
    Ok(tally)
}

/// A 1.0 `TimeSeries`: labels = 1, samples = 2, exemplars = 3, histograms = 4.
fn v1_series(buf: &[u8], tally: &mut Tally) -> Result<(), String> {
    tally.series += 1;
    let mut order = LabelOrder::new();
    for field in Reader::new(buf) {
        match field? {
            (1, Field::Bytes(label)) => order.push(v1_label_name(label)?),
            (2, Field::Bytes(sample)) => {
                check_sample(sample)?;
                tally.float_samples += 1;
            }
            (3, Field::Bytes(exemplar)) => {
                check_message(exemplar).map_err(|e| format!("exemplar: {e}"))?;
                tally.exemplars += 1;
            }
            (4, Field::Bytes(histogram)) => {
                check_message(histogram).map_err(|e| format!("histogram: {e}"))?;
                tally.histograms += 1;
            }
            (n @ 1..=4, _) => return Err(format!("field {n} is not a message")),
            _ => {}
        }
    }
    if !order.valid() {
        tally.bad_labels += 1;
    }
    Ok(())
}

/// A 1.0 `Label` (name = 1, value = 2): checks both strings, returns the name.
fn v1_label_name(buf: &[u8]) -> Result<&[u8], String> {
    let mut name: &[u8] = &[];
    for field in Reader::new(buf) {
        match field.map_err(|e| format!("label: {e}"))? {
            (1, Field::Bytes(s)) => name = utf8(s, "label name")?,
            (2, Field::Bytes(s)) => {
                utf8(s, "label value")?;
            }
            (n @ (1 | 2), _) => return Err(format!("label: field {n} is not a string")),
            _ => {}
        }
    }
    Ok(name)
}

/// Counts a remote-write 2.0 `io.prometheus.write.v2.Request`
/// (symbols = 4, timeseries = 5).
pub(super) fn count_v2(buf: &[u8]) -> Result<Tally, String> {
    // Symbols first: series point into them, and protobuf allows fields in any order.
    let mut symbols: Vec<&[u8]> = Vec::new();
    for field in Reader::new(buf) {
        match field.map_err(|e| format!("Request: {e}"))? {
            (4, Field::Bytes(s)) => symbols.push(utf8(s, "symbol")?),
            (4, _) => return Err("Request: field 4 (symbols) is not a string".into()),
            _ => {}
        }
    }
    if symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err("symbols[0] is not the empty string".into());
    }
    let mut tally = Tally::default();
    // The first pass walked every top-level field, so this one cannot fail to parse.
    for (number, field) in Reader::new(buf).map_while(Result::ok) {
        match (number, field) {
            (5, Field::Bytes(series)) => v2_series(series, &symbols, &mut tally)
                .map_err(|e| format!("timeseries[{}]: {e}", tally.series - 1))?,
            (5, _) => return Err("Request: field 5 (timeseries) is not a message".into()),
            _ => {}
        }
    }
    Ok(tally)
}

/// A 2.0 `TimeSeries`: labels_refs = 1 (packed uint32), samples = 2,
/// histograms = 3, exemplars = 4, metadata = 5, created_timestamp = 6.
fn v2_series(buf: &[u8], symbols: &[&[u8]], tally: &mut Tally) -> Result<(), String> {
    tally.series += 1;
    let mut order = LabelOrder::new();
    let mut refs = 0usize;
    let mut label_ref = |r: u64| -> Result<(), String> {
        let symbol = usize::try_from(r)
            .ok()
            .and_then(|i| symbols.get(i))
            .ok_or_else(|| format!("label ref {r} is past the {} symbols", symbols.len()))?;
        // Refs alternate name, value: the even ones are names.
        if refs & 1 == 0 {
            order.push(symbol);
        }
        refs += 1;
        Ok(())
    };
    for field in Reader::new(buf) {
        match field? {
            (1, Field::Bytes(packed)) => {
                let mut r = Reader::new(packed);
                while !r.is_empty() {
                    label_ref(r.varint().map_err(|e| format!("labels_refs: {e}"))?)?;
                }
            }
            // An unpacked repeated field is legal protobuf too.
            (1, Field::Varint(r)) => label_ref(r)?,
            (2, Field::Bytes(sample)) => {
                check_sample(sample)?;
                tally.float_samples += 1;
            }
            (3, Field::Bytes(histogram)) => {
                check_message(histogram).map_err(|e| format!("histogram: {e}"))?;
                tally.histograms += 1;
            }
            (4, Field::Bytes(exemplar)) => {
                check_message(exemplar).map_err(|e| format!("exemplar: {e}"))?;
                tally.exemplars += 1;
            }
            (5, Field::Bytes(metadata)) => {
                check_message(metadata).map_err(|e| format!("metadata: {e}"))?;
            }
            (6, Field::Varint(_)) => {}
            (n @ 1..=6, _) => return Err(format!("field {n} has the wrong wire type")),
            _ => {}
        }
    }
    if refs & 1 == 1 {
        return Err(format!("{refs} label refs, not name/value pairs"));
    }
    if !order.valid() {
        tally.bad_labels += 1;
    }
    Ok(())
}

/// A `Sample` in either version: value = 1 (double), timestamp = 2 (int64).
fn check_sample(buf: &[u8]) -> Result<(), String> {
    for field in Reader::new(buf) {
        match field.map_err(|e| format!("sample: {e}"))? {
            (1, Field::Fixed64) | (2, Field::Varint(_)) => {}
            (1, _) => return Err("sample: value is not a double".into()),
            (2, _) => return Err("sample: timestamp is not a varint".into()),
            _ => {}
        }
    }
    Ok(())
}

/// Walks a message's fields, checking only the wire format.
fn check_message(buf: &[u8]) -> Result<(), &'static str> {
    Reader::new(buf).try_for_each(|field| field.map(drop))
}

fn utf8<'a>(s: &'a [u8], what: &str) -> Result<&'a [u8], String> {
    std::str::from_utf8(s)
        .map(|_| s)
        .map_err(|e| format!("{what} is not UTF-8: {e}"))
}

/// Label names in the order a series lists them: both specifications want them
/// sorted, without repeats, and with `__name__`.
struct LabelOrder<'a> {
    previous: Option<&'a [u8]>,
    sorted: bool,
    named: bool,
}

impl<'a> LabelOrder<'a> {
    fn new() -> Self {
        LabelOrder {
            previous: None,
            sorted: true,
            named: false,
        }
    }

    fn push(&mut self, name: &'a [u8]) {
        if self.previous.is_some_and(|p| name <= p) {
            self.sorted = false;
        }
        self.named |= name == b"__name__";
        self.previous = Some(name);
    }

    fn valid(&self) -> bool {
        self.sorted && self.named
    }
}

// === impl Reader ===

/// One field's value; fixed-width values are skipped, not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

/// Iterates over a message's fields as `(number, value)`. Every step consumes at
/// least one byte, and the first error ends the iteration.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some((&byte, rest)) = self.buf.split_first() else {
                return Err("truncated varint");
            };
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.buf.len() {
            return Err("length past the end of the message");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u32, Field<'a>), &'static str> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number out of range")?;
        if number == 0 {
            return Err("field number 0");
        }
        let value = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
                Field::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Field::Fixed32
            }
            _ => return Err("group or unknown wire type"),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(u32, Field<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.buf = &[];
        }
        Some(field)
    }
}
