//! Live streams: the detection cost measured when caps arrive (the latency query needs it before
//! the first frame), and the frames QoS drops (counted, one warning).

use std::sync::atomic::Ordering;
use std::time::Instant;

use gst::prelude::*;
use gst::subclass::prelude::*;
use superpoint::{Frame, PixelLayout};

use super::{CAT, SuperPointDetect};

impl SuperPointDetect {
    /// Keeps the negotiated `info` and times one detection on a blank frame of its size, so
    /// that the first latency query (live pipelines ask before the first frame) gets a measured
    /// cost.
    pub(super) fn measure_cost(&self, info: gst_video::VideoInfo) {
        let (width, height) = (info.width() as usize, info.height() as usize);
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            return;
        };
        state.video_info = Some(info);
        let blank = vec![0u8; width * height];
        let started = Instant::now();
        let measured = Frame::new(&blank, width, height, width, PixelLayout::Gray)
            .and_then(|f| state.detector.detect(&f, &mut state.detections));
        let cost = started.elapsed();
        // A failure here shows again, as an error, on the first real frame.
        if measured.is_ok() {
            state.timing.record(cost);
            drop(guard);
            gst::debug!(CAT, imp = self, "{width}x{height}: {cost:?} per frame");
        }
    }

    /// Counts a frame QoS dropped (its number stays taken, so frame numbers show the gap) and
    /// warns the first time.
    pub(super) fn frame_dropped(&self, pts: Option<gst::ClockTime>) {
        self.frames_dropped.fetch_add(1, Ordering::Relaxed);
        let (first, cost, fps) = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else {
                return;
            };
            state.next_frame();
            (
                state.timing.drop_frame(),
                state.timing.cost(),
                state.video_info.as_ref().map(|i| i.fps()),
            )
        };
        gst::debug!(
            CAT,
            imp = self,
            "QoS: dropped the late frame at {}",
            pts.display()
        );
        if first {
            let period = fps
                .filter(|f| f.numer() > 0)
                .map(|f| {
                    format!(
                        ", the stream {:.1} ms",
                        1e3 * f.denom() as f64 / f.numer() as f64
                    )
                })
                .unwrap_or_default();
            gst::element_imp_warning!(
                self,
                gst::CoreError::Clock,
                (
                    "superpointdetect is slower than the stream ({:.1} ms per frame{}): dropping frames that are already late (QoS, counted in frames-dropped). To keep every frame in real time, lower inference-width/inference-height or use models/superpoint-int8.onnx; qos=false processes every frame, with growing delay",
                    cost.as_secs_f64() * 1e3,
                    period
                )
            );
        }
    }
}
