//! Event output: one JSON object per line (JSON Lines), to a file or stdout.

use crate::event::{Event, EventFilter};
use crate::stats::{Counters, StatsSnapshot};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes the events that pass the filter, counting them per type for `stats` events.
pub struct JsonLinesWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    filter: EventFilter,
    written: Counters,
}

impl std::fmt::Debug for JsonLinesWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesWriter").field("filter", &self.filter).field("written", &self.written).finish()
    }
}

impl JsonLinesWriter {
    /// `-` is stdout; anything else a file created (or truncated) for writing.
    pub fn open(path: &Path, filter: EventFilter) -> io::Result<JsonLinesWriter> {
        let sink: Box<dyn Write + Send> =
            if path.as_os_str() == "-" { Box::new(io::stdout()) } else { Box::new(File::create(path)?) };
        Ok(Self::new(sink, filter))
    }

    pub fn new(sink: Box<dyn Write + Send>, filter: EventFilter) -> JsonLinesWriter {
        JsonLinesWriter { out: BufWriter::with_capacity(1 << 16, sink), filter, written: Counters::default() }
    }

    /// Writes `event` if the filter accepts it.
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        if !self.filter.accepts(event) {
            return Ok(());
        }
        let record = event.to_record();
        let event_type = record.event_type;
        self.written.bump(event_type);
        if let Event::Stats(stats) = event {
            // A stats event reports the events written so far, itself included.
            let mut snapshot: StatsSnapshot = stats.1.clone();
            snapshot.events = self.written.clone();
            let mut record = record;
            record.stats = Some(&snapshot);
            serde_json::to_writer(&mut self.out, &record)?;
        } else {
            serde_json::to_writer(&mut self.out, &record)?;
        }
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Events written so far, per type.
    pub fn written(&self) -> &Counters {
        &self.written
    }
}

/// Adapter for tests and benches: collects lines in memory.
#[derive(Clone, Debug, Default)]
pub struct SharedBuffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.lock() {
            Ok(mut v) => {
                v.extend_from_slice(buf);
                Ok(buf.len())
            }
            Err(_) => Err(io::Error::other("buffer lock poisoned")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
