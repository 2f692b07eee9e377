//! Live streams: the detection cost measured when caps arrive (the latency query needs it before
//! the first frame), and the frames QoS drops (counted, one warning).

use std::time::Instant;

use gst::prelude::*;
use gst::subclass::prelude::*;
use superpoint::{Frame, PixelLayout};

use super::{CAT, SuperPointDetect};

impl SuperPointDetect {
    /// Times one detection on a blank `width` x `height` frame when caps arrive, so that the
    /// first latency query (live pipelines ask before the first frame) gets a measured cost.
    pub(super) fn measure_cost(&self, width: usize, height: usize) {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            return;
        };
        let blank = vec![0u8; width * height];
        let started = Instant::now();
        let measured = Frame::new(&blank, width, height, width, PixelLayout::Gray)
            .and_then(|f| state.detector.detect(&f, &mut state.detections));
        let cost = started.elapsed();
        drop(guard);
        // A failure here shows again, as an error, on the first real frame.
        if measured.is_ok() {
            self.timing.lock().unwrap().record(cost);
            gst::debug!(CAT, imp = self, "{width}x{height}: {cost:?} per frame");
        }
    }

    /// Counts a frame QoS dropped (its number stays taken, so frame numbers show the gap) and
    /// warns the first time.
    pub(super) fn frame_dropped(&self, pts: Option<gst::ClockTime>) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.frame_count += 1;
        }
        let (first, cost) = {
            let mut timing = self.timing.lock().unwrap();
            (timing.drop_frame(), timing.cost())
        };
        gst::debug!(
            CAT,
            imp = self,
            "QoS: dropped the late frame at {}",
            pts.display()
        );
        if first {
            let period = self
                .video_info
                .lock()
                .unwrap()
                .as_ref()
                .map(|i| i.fps())
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
