//! Soak test: 20,000 small (32x32) frames through detect -> match -> overlay -> warp (stabilize); the
//! resident memory (from /proc/self/statm) must not grow after warm-up beyond a fixed bound.

mod common;

use std::sync::{Arc, Mutex};

use gst::prelude::*;

const FRAMES: u64 = 20_000;
const WARM_UP: u64 = 2_000;
const SAMPLE_EVERY: u64 = 1_000;
/// Allowed RSS growth after warm-up. Per-frame allocations are a few KiB (metas of ~100
/// keypoints with descriptors), so a leak of one per frame would add > 20 MiB over the run.
const MAX_GROWTH_KIB: i64 = 8 * 1024;

fn rss_kib() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let resident: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p,
        _ => 4096,
    };
    resident * page / 1024
}

#[test]
fn twenty_thousand_frames_without_memory_growth() {
    common::init();
    let model = common::random_model();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={FRAMES} pattern=smpte horizontal-speed=1 \
         ! video/x-raw,format=I420,width=32,height=32,framerate=1000/1 \
         ! superpointdetect model={m} threshold=0.001 \
         ! superpointmatch min-inliers=4 \
         ! superpointoverlay \
         ! homographicwarp mode=stabilize smoothing=10 \
         ! fakesink name=sink sync=false",
        m = model.display()
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let samples: Arc<Mutex<Vec<(u64, i64)>>> = Arc::default();
    let statuses: Arc<Mutex<[u64; 3]>> = Arc::default();
    let sink = pipeline.by_name("sink").unwrap();
    let pad = sink.static_pad("sink").unwrap();
    let s2 = samples.clone();
    let count = std::sync::atomic::AtomicU64::new(0);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            // The warp consumed the match meta; its HomographyMeta says it ran.
            assert!(buf.meta::<gstsuperpoint::meta::HomographyMeta>().is_some());
        }
        let count = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if count.is_multiple_of(SAMPLE_EVERY) {
            s2.lock().unwrap().push((count, rss_kib()));
        }
        gst::PadProbeReturn::Ok
    });
    // Count match statuses before the warp drops the meta.
    let overlay_pad = pipeline
        .iterate_elements()
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.factory().is_some_and(|f| f.name() == "superpointoverlay"))
        .unwrap()
        .static_pad("sink")
        .unwrap();
    let st3 = statuses.clone();
    overlay_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(m) = info
            .buffer()
            .and_then(|b| b.meta::<gstsuperpoint::meta::SuperPointMatchesMeta>())
        {
            let i = match m.status() {
                gstsuperpoint::meta::MatchStatus::Reference => 0,
                gstsuperpoint::meta::MatchStatus::Ok => 1,
                gstsuperpoint::meta::MatchStatus::Lost => 2,
            };
            st3.lock().unwrap()[i] += 1;
        }
        gst::PadProbeReturn::Ok
    });

    let start = std::time::Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS within 10 minutes");
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("pipeline error: {} {:?}", e.error(), e.debug());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let samples = samples.lock().unwrap().clone();
    let statuses = *statuses.lock().unwrap();
    assert_eq!(samples.last().map(|s| s.0), Some(FRAMES));
    assert_eq!(statuses.iter().sum::<u64>(), FRAMES);
    let base = samples
        .iter()
        .find(|(n, _)| *n >= WARM_UP)
        .map(|s| s.1)
        .unwrap();
    let peak = samples
        .iter()
        .filter(|(n, _)| *n >= WARM_UP)
        .map(|s| s.1)
        .max()
        .unwrap();
    let last = samples.last().unwrap().1;
    println!(
        "soak: {FRAMES} frames 32x32 in {elapsed:.1} s ({:.0} frames/s); statuses reference/ok/lost {:?}; RSS after {WARM_UP} frames {} KiB, peak {} KiB, final {} KiB (growth {} KiB, bound {} KiB); samples {:?}",
        FRAMES as f64 / elapsed,
        statuses,
        base,
        peak,
        last,
        peak - base,
        MAX_GROWTH_KIB,
        samples
    );
    assert!(
        peak - base <= MAX_GROWTH_KIB,
        "resident memory grew by {} KiB after warm-up (bound {MAX_GROWTH_KIB} KiB)",
        peak - base
    );
}
