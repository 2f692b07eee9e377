//! Real pipelines on Debian's opencv-doc videos: vtest.avi (DivX 3, needs gstreamer1.0-libav)
//! through detect -> match -> overlay -> stabilize into an AVI that decodes again at the source's
//! frame rate, and tree.avi
//! (Cinepak) through detect -> match (reference) -> rectify. Random-weights model: plumbing only.

mod common;

use std::path::Path;

use gstsuperpoint::meta::{HomographyMeta, MatchStatus, SuperPointMatchesMeta, WarpKind};

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

fn require(path: &str, hint: &str) {
    assert!(Path::new(path).exists(), "{path} is missing: {hint}");
}

fn require_element(name: &str, hint: &str) {
    assert!(
        gst::ElementFactory::find(name).is_some(),
        "GStreamer element {name} is missing: {hint}"
    );
}

/// Runs `desc` to EOS (panicking on an error message) and returns what the probe collected.
/// `desc` names an `identity name=limit` that [`common::limit_frames`] shuts after `frames`.
fn run<T: Send + 'static>(
    desc: &str,
    frames: Option<usize>,
    probe_element: &str,
    collect: impl Fn(&gst::BufferRef) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let pipeline = common::pipeline(desc);
    if let Some(frames) = frames {
        common::limit_frames(&pipeline, "limit", frames);
    }
    common::run_pipeline_to_eos(&pipeline, probe_element, 300, collect)
}

#[test]
fn vtest_overlay_and_stabilisation_to_avi() {
    common::init();
    let vtest = format!("{DATA}/vtest.avi");
    require(
        &vtest,
        "install Debian's opencv-doc (scripts/setup.sh does)",
    );
    for (e, p) in [
        ("avdec_msmpeg4", "gstreamer1.0-libav"),
        ("avenc_mpeg4", "gstreamer1.0-libav"),
        ("avimux", "gstreamer1.0-plugins-good"),
    ] {
        require_element(e, &format!("install {p} (scripts/setup.sh does)"));
    }
    let avi = std::env::temp_dir().join(format!("vtest-overlay-{}.avi", std::process::id()));
    let frames = 8;
    let statuses = run(
        &format!(
            "filesrc location={vtest} ! decodebin ! identity name=limit ! videoconvert ! video/x-raw,format=I420 \
             ! superpointdetect model={m} inference-width=192 inference-height=144 max-keypoints=300 \
             ! superpointmatch min-inliers=8 ! superpointoverlay name=overlay \
             ! homographicwarp mode=stabilize smoothing=5 \
             ! videoconvert ! avenc_mpeg4 ! avimux ! filesink location={out}",
            m = common::random_model().display(),
            out = avi.display()
        ),
        Some(frames),
        "overlay",
        |buf| {
            buf.meta::<SuperPointMatchesMeta>()
                .expect("matches meta before the overlay")
                .status()
        },
    );
    assert_eq!(statuses.len(), frames);
    assert_eq!(statuses[0], MatchStatus::Reference);
    // The AVI decodes back to as many 768x576 frames, 100 ms apart as in vtest.avi (avenc_mpeg4
    // of gst-libav 1.22.0 leaves its output without timestamps: in MP4 every frame was at 0).
    let decoded = run(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! fakesink name=sink sync=false",
            avi.display()
        ),
        None,
        "sink",
        |buf| (buf.size(), buf.pts().map(|t| t.mseconds())),
    );
    assert_eq!(decoded.len(), frames);
    for (i, (size, pts)) in decoded.iter().enumerate() {
        assert_eq!(*size, 768 * 576 * 3 / 2, "{decoded:?}");
        assert_eq!(*pts, Some(100 * i as u64), "{decoded:?}");
    }
    std::fs::remove_file(avi).ok();
}

#[test]
fn tree_avi_reference_matching_and_rectification() {
    common::init();
    let tree = format!("{DATA}/tree.avi");
    require(&tree, "install Debian's opencv-doc (scripts/setup.sh does)");
    require_element(
        "avdec_cinepak",
        "install gstreamer1.0-libav (scripts/setup.sh does)",
    );
    let kinds = run(
        &format!(
            "filesrc location={tree} ! decodebin ! identity name=limit ! videoconvert ! video/x-raw,format=RGBx \
             ! superpointdetect model={m} max-keypoints=300 \
             ! superpointmatch mode=reference min-inliers=8 \
             ! homographicwarp mode=rectify ! fakesink name=sink sync=false",
            m = common::random_model().display()
        ),
        Some(6),
        "sink",
        |buf| {
            assert!(
                buf.meta::<SuperPointMatchesMeta>().is_none(),
                "dropped by the warp"
            );
            buf.meta::<HomographyMeta>()
                .expect("HomographyMeta")
                .data()
                .kind
        },
    );
    assert_eq!(kinds, vec![WarpKind::Rectify; 6]);
}
