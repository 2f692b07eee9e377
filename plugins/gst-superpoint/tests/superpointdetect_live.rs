//! `superpointdetect` on a live source it cannot keep up with: QoS (on by default) drops late
//! frames, so the delay from capture to sink stays bounded; with `qos=false` it grows frame after
//! frame. The latency query carries the measured per-frame cost.

mod common;

use std::time::{Duration, Instant};

use gst::prelude::*;

/// What a live run gave: per frame at the sink, its capture time (its running time on the
/// pipeline clock) and its arrival there, in ms; the `frames-dropped` count; the QoS warnings
/// posted; and the pipeline's latency once playing.
struct LiveRun {
    frames: Vec<(f64, f64)>,
    dropped: u64,
    warnings: Vec<String>,
    latency: (bool, gst::ClockTime),
}

/// 640x480 GRAY8 at 30 frames/s from a live `videotestsrc` into a random-weights detector on one
/// thread (0.2-0.3 s per frame: several times slower than the 33 ms between frames), until
/// `frames` frames reached the sink.
fn live_run(qos: bool, frames: usize) -> LiveRun {
    let wanted = frames;
    let pipeline = common::pipeline(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=GRAY8,width=640,height=480,framerate=30/1 \
         ! superpointdetect name=d threads=1 qos={qos} model={} ! fakesink name=sink sync=true qos=true",
        common::random_model().display()
    ));
    let sink = pipeline.by_name("sink").unwrap();
    let p = pipeline.clone();
    let frames = common::probe_buffers(&pipeline, "sink", move |buf| {
        let clock = p.clock().expect("a clock while playing");
        let base = p.base_time().expect("a base time while playing");
        // videotestsrc's segment starts at 0: the pts is the running time of the capture.
        let captured = buf.pts().expect("pts").nseconds() as f64 / 1e6;
        let arrived = (clock.time().nseconds() - base.nseconds()) as f64 / 1e6;
        (captured, arrived)
    });
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    pipeline.set_state(gst::State::Playing).unwrap();
    let started = Instant::now();
    let mut latency = None;
    while frames.lock().unwrap().len() < wanted {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "fewer than {wanted} frames in 120 s"
        );
        while let Some(m) = bus.pop() {
            match m.view() {
                gst::MessageView::Error(e) => panic!("error: {} {:?}", e.error(), e.debug()),
                gst::MessageView::Warning(w) if w.error().to_string().contains("slower") => {
                    warnings.push(w.error().to_string())
                }
                _ => {}
            }
        }
        // Asked once frames flow (the sink answers only once it is playing).
        if latency.is_none() && frames.lock().unwrap().len() >= 2 {
            let mut q = gst::query::Latency::new();
            if sink.query(&mut q) {
                let (live, min, _) = q.result();
                latency = Some((live, min));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let dropped = pipeline
        .by_name("d")
        .unwrap()
        .property::<u64>("frames-dropped");
    pipeline.set_state(gst::State::Null).unwrap();
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    LiveRun {
        frames,
        dropped,
        warnings,
        latency: latency.expect("no frame reached the sink"),
    }
}

/// The delay bound, in detections (see [`LiveRun::worst_late_delay_in_detections`]).
const BOUND: f64 = 4.5;

impl LiveRun {
    /// Delay from capture to the sink of each frame, ms.
    fn delays(&self) -> Vec<f64> {
        self.frames.iter().map(|(c, a)| a - c).collect()
    }

    /// Median time between arrivals at the sink, ms: what one detection costs in this run (the
    /// detector runs back to back), whatever the machine's load.
    fn detection_ms(&self) -> f64 {
        let mut gaps: Vec<f64> = self.frames.windows(2).map(|w| w[1].1 - w[0].1).collect();
        gaps.sort_by(f64::total_cmp);
        gaps[gaps.len() / 2]
    }

    /// The worst delay over the second half of the run, in detections: a frame waits for the
    /// detection in progress, then for its own, so a stream that keeps up stays near 2 (up to 3
    /// measured when the machine's load makes single detections slow); one whose delay piles up
    /// gains about one detection per frame (8-10 measured at the tenth frame).
    fn worst_late_delay_in_detections(&self) -> f64 {
        let d = self.delays();
        d[d.len() / 2..].iter().copied().fold(0.0, f64::max) / self.detection_ms()
    }
}

#[test]
fn a_live_stream_too_fast_for_the_detector_keeps_a_bounded_delay() {
    common::init();
    let el = gst::ElementFactory::make("superpointdetect")
        .build()
        .unwrap();
    assert!(el.property::<bool>("qos"), "QoS is on by default");

    let run = live_run(true, 10);
    let n = run.frames.len();
    let detection = run.detection_ms();
    assert!(
        detection > 40.0,
        "{detection} ms per frame: not slower than the stream"
    );
    // Late frames are dropped before they cost anything, so the delay does not pile up.
    let worst = run.worst_late_delay_in_detections();
    assert!(
        worst <= BOUND,
        "delay up to {worst:.1} detections of {detection:.0} ms: {:?}",
        run.delays()
    );
    assert!(run.dropped > 0, "nothing was dropped");
    assert_eq!(
        run.warnings.len(),
        1,
        "one warning ({} dropped): {:?}",
        run.dropped,
        run.warnings
    );
    assert!(
        run.warnings[0].contains("frames-dropped"),
        "{}",
        run.warnings[0]
    );
    // The latency query carries the detector's measured cost, longer than a frame period.
    let (live, min) = run.latency;
    assert!(live);
    assert!(
        min >= gst::ClockTime::from_mseconds(34),
        "latency {min} does not include the detection"
    );
    println!(
        "QoS on: {n} frames at the sink, {} dropped, {detection:.0} ms per detection, worst delay in the second half {:.1} detections, latency {min}",
        run.dropped, worst
    );
}

#[test]
fn without_qos_the_same_stream_builds_up_delay() {
    common::init();
    let run = live_run(false, 10);
    let n = run.frames.len();
    assert_eq!(run.dropped, 0);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    // Every frame is processed, each later than the one before: the bound above fails.
    let worst = run.worst_late_delay_in_detections();
    assert!(worst > BOUND, "{worst:.1} detections: {:?}", run.delays());
    println!(
        "QoS off: {n} frames, {:.0} ms per detection, worst delay in the second half {worst:.1} detections",
        run.detection_ms()
    );
}
