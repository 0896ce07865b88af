//! Packet sources through libpcap: replay of pcap/pcapng files as one timeline, and live capture
//! on a mirror port. jobwatch never transmits: no code path calls a pcap send function.

use crate::decode::LinkType;
use crate::event::{Alert, Event};
use crate::monitor::Monitor;
use crate::output::JsonLinesWriter;
use crate::time::Timestamp;
use anyhow::{anyhow, Context, Result};
use dissectors::Severity;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A problem with the input that did not stop the run but makes its exit status 2.
#[derive(Debug)]
pub struct InputProblem(pub String);

/// Maps a pcap link type, or explains which one is not supported.
fn link_type(datalink: pcap::Linktype, source: &str) -> Result<LinkType> {
    LinkType::from_linktype(datalink.0).ok_or_else(|| {
        let name = datalink.get_name().unwrap_or_else(|_| "unknown".to_string());
        anyhow!(
            "{source}: unsupported link type {} ({name}); jobwatch reads Ethernet, Linux cooked (SLL, SLL2), raw IPv4/IPv6 and BSD loopback",
            datalink.0
        )
    })
}

/// Writes every pending event of the pipeline.
pub fn flush_events(pipeline: &mut Monitor, writer: &mut JsonLinesWriter) -> io::Result<()> {
    for event in pipeline.drain_events() {
        writer.write(&event)?;
    }
    Ok(())
}

/// Replays `files` in order as one timeline. Problems with a file (unreadable, cut short) are
/// reported on stderr and as a `sensor_health` alert, and the remaining files are still read;
/// the events already produced are never lost.
pub fn replay(files: &[PathBuf], pipeline: &mut Monitor, writer: &mut JsonLinesWriter) -> Result<Vec<InputProblem>> {
    let mut problems = Vec::new();
    for path in files {
        if let Err(e) = replay_file(path, pipeline, writer, &mut problems) {
            // Output errors end the run; input errors are recorded and the next file is read.
            if e.downcast_ref::<io::Error>().is_some() {
                return Err(e);
            }
            problems.push(InputProblem(format!("{e:#}")));
        }
    }
    pipeline.finish();
    flush_events(pipeline, writer)?;
    writer.flush()?;
    Ok(problems)
}

fn replay_file(
    path: &Path,
    pipeline: &mut Monitor,
    writer: &mut JsonLinesWriter,
    problems: &mut Vec<InputProblem>,
) -> Result<()> {
    let name = path.display().to_string();
    let mut cap = pcap::Capture::from_file(path).map_err(|e| anyhow!("{name}: cannot read capture: {e}"))?;
    let link = link_type(cap.get_datalink(), &name)?;
    let mut count: u64 = 0;
    loop {
        match cap.next_packet() {
            Ok(packet) => {
                count += 1;
                let ts = Timestamp::from_timeval(packet.header.ts.tv_sec, packet.header.ts.tv_usec);
                pipeline.process(ts, link, packet.data);
                flush_events(pipeline, writer)?;
            }
            Err(pcap::Error::NoMorePackets) => return Ok(()),
            Err(e) => {
                let message =
                    format!("{name}: capture file is damaged after {count} packets ({e}); the rest of it is skipped");
                let ts = pipeline_now(pipeline);
                let alert = Alert::sensor_health(ts, Severity::Medium, "sensor.capture_file_damaged", message.clone());
                writer.write(&Event::Alert(Box::new(alert)))?;
                problems.push(InputProblem(message));
                return Ok(());
            }
        }
    }
}

fn pipeline_now(pipeline: &Monitor) -> Timestamp {
    pipeline.now().unwrap_or_default()
}

/// Options of a live capture.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    pub filter: Option<String>,
    pub promiscuous: bool,
    pub snaplen: i32,
    pub buffer_size: i32,
}

/// Longest wait for a packet before timers and the stop flag are looked at again.
const IDLE_WAIT_MS: u16 = 100;

/// Waits until the capture has packets, a signal arrives, or `ms` pass.
fn wait_readable(cap: &pcap::Capture<pcap::Active>, ms: u16) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(cap.as_fd(), PollFlags::POLLIN)];
    // EINTR (a signal) and errors alike just end the wait; the loop re-checks everything.
    let _ = poll(&mut fds, PollTimeout::from(ms));
}

fn wall_clock() -> Timestamp {
    let us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    Timestamp(u64::try_from(us).unwrap_or(u64::MAX))
}

/// Captures on an interface until `stop` is set (SIGINT/SIGTERM), then flushes everything.
pub fn live(
    options: &LiveOptions,
    pipeline: &mut Monitor,
    writer: &mut JsonLinesWriter,
    stop: &AtomicBool,
    mut every_second: impl FnMut(&mut Monitor),
) -> Result<()> {
    let iface = &options.interface;
    let inactive =
        pcap::Capture::from_device(iface.as_str()).with_context(|| format!("{iface}: no such capture device"))?;
    let mut cap = inactive
        .promisc(options.promiscuous)
        .snaplen(options.snaplen)
        .buffer_size(options.buffer_size)
        .immediate_mode(true)
        .timeout(100)
        .open()
        .map_err(|e| anyhow!("{iface}: cannot start capture: {e}"))?;
    if let Some(filter) = &options.filter {
        cap.filter(filter, true).map_err(|e| anyhow!("{iface}: bad capture filter `{filter}`: {e}"))?;
    }
    let link = link_type(cap.get_datalink(), iface)?;
    // Blocking reads never return on a quiet link (libpcap's Linux loop polls again after its
    // timeout and after EINTR), so neither timers nor the stop flag would run: read without
    // blocking and wait on the descriptor ourselves.
    let mut cap = cap.setnonblock().map_err(|e| anyhow!("{iface}: cannot set non-blocking mode: {e}"))?;
    let stats_every = Duration::from_secs(1);
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match cap.next_packet() {
            Ok(packet) => {
                let ts = Timestamp::from_timeval(packet.header.ts.tv_sec, packet.header.ts.tv_usec);
                pipeline.process(ts, link, packet.data);
            }
            Err(pcap::Error::TimeoutExpired) => {
                // No packet: capture time still moves on, so timers fire in a quiet network.
                pipeline.tick(wall_clock());
                flush_events(pipeline, writer)?;
                wait_readable(&cap, IDLE_WAIT_MS);
            }
            Err(e) => {
                flush_events(pipeline, writer)?;
                return Err(anyhow!("{iface}: capture failed: {e}"));
            }
        }
        if last_stats.elapsed() >= stats_every {
            last_stats = Instant::now();
            every_second(pipeline);
            flush_events(pipeline, writer)?;
            if let Ok(s) = cap.stats() {
                pipeline.set_capture_drops(u64::from(s.dropped), u64::from(s.if_dropped));
            }
            writer.flush()?;
        }
        flush_events(pipeline, writer)?;
    }
    if let Ok(s) = cap.stats() {
        pipeline.set_capture_drops(u64::from(s.dropped), u64::from(s.if_dropped));
    }
    pipeline.finish();
    flush_events(pipeline, writer)?;
    writer.flush()?;
    Ok(())
}
