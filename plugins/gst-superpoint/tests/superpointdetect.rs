//! `superpointdetect` with gstreamer-check's Harness and real pipelines: formats, meta contents,
//! equality with the library, renegotiation, and every kind of bad input.

mod common;

use gst::prelude::*;
use gst_video::prelude::*;
use gstsuperpoint::messages::KeypointsMessage;
use gstsuperpoint::meta::SuperPointKeypointsMeta;
use superpoint::{
    Detections, Detector, DetectorConfig, EngineOptions, Frame, PixelLayout, PostParams,
};

fn harness(caps: &str) -> gst_check::Harness {
    let model = common::random_model();
    common::harness(
        "superpointdetect",
        &[("model", model.to_str().unwrap())],
        caps,
    )
}

fn push(h: &mut gst_check::Harness, data: Vec<u8>) -> gst::Buffer {
    let mut buf = gst::Buffer::from_mut_slice(data);
    buf.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(40));
    h.push_and_pull(buf).expect("buffer out")
}

/// Library result on the same pixels, for equality with the element.
fn library_detect(
    data: &[u8],
    w: usize,
    h: usize,
    stride: usize,
    layout: PixelLayout,
) -> Detections {
    let mut det = Detector::new(
        &common::random_model(),
        &EngineOptions::default(),
        DetectorConfig {
            descriptors: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut out = Detections::default();
    det.detect(&Frame::new(data, w, h, stride, layout).unwrap(), &mut out)
        .unwrap();
    out
}

fn check_meta(buf: &gst::BufferRef, w: u32, h: u32) -> (Vec<superpoint::Keypoint>, Vec<f32>) {
    let meta = buf
        .meta::<SuperPointKeypointsMeta>()
        .expect("SuperPointKeypointsMeta on the buffer");
    assert_eq!((meta.width(), meta.height()), (w, h));
    assert_eq!(meta.model_id(), "random-test");
    assert!(!meta.keypoints().is_empty());
    assert!(meta.keypoints().len() <= 1000);
    for k in meta.keypoints() {
        assert!(
            k.x >= 0.0 && k.y >= 0.0 && k.x <= (w - 1) as f32 && k.y <= (h - 1) as f32,
            "{k:?}"
        );
        assert!(k.score >= 0.015 && k.score <= 1.0);
    }
    assert_eq!(meta.descriptors().len(), meta.keypoints().len() * 256);
    for i in 0..meta.keypoints().len() {
        let n: f32 = meta.descriptor(i).unwrap().iter().map(|v| v * v).sum();
        assert!(
            (n - 1.0).abs() < 1e-4,
            "descriptor {i} has squared norm {n}"
        );
    }
    (meta.keypoints().to_vec(), meta.descriptors().to_vec())
}

#[test]
fn gray8_matches_the_library_and_passes_pixels_through() {
    let (w, h) = (160, 120);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let mut hs = harness("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let out = push(&mut hs, gray.clone());
    assert_eq!(
        out.map_readable().unwrap().as_slice(),
        gray.as_slice(),
        "pixels must pass through"
    );
    let (kps, desc) = check_meta(&out, w as u32, h as u32);
    let lib = library_detect(&gray, w, h, w, PixelLayout::Gray);
    assert_eq!(kps, lib.keypoints);
    assert_eq!(desc, lib.descriptors);
}

#[test]
fn i420_and_nv12_use_the_luma_plane() {
    let (w, h) = (160, 120);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let lib = library_detect(&gray, w, h, w, PixelLayout::Gray);
    for format in ["I420", "NV12"] {
        let mut data = gray.clone();
        data.extend(std::iter::repeat_n(128u8, w * h / 2));
        let mut hs = harness(&format!(
            "video/x-raw,format={format},width=160,height=120,framerate=30/1"
        ));
        let out = push(&mut hs, data);
        let (kps, _) = check_meta(&out, w as u32, h as u32);
        assert_eq!(kps, lib.keypoints, "{format}");
    }
}

#[test]
fn rgb_family_uses_bt601_luma() {
    let (w, h) = (160, 120);
    let rgb = common::graf_rgb(w, h);
    let lib = library_detect(&rgb, w, h, w * 3, PixelLayout::RGB);
    let mut hs = harness("video/x-raw,format=RGB,width=160,height=120,framerate=30/1");
    let (kps, _) = check_meta(&push(&mut hs, rgb.clone()), w as u32, h as u32);
    assert_eq!(kps, lib.keypoints);
    // BGRx: same picture with swapped channels and padding must give the same keypoints.
    let bgrx: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 0])
        .collect();
    let mut hs = harness("video/x-raw,format=BGRx,width=160,height=120,framerate=30/1");
    let (kps2, _) = check_meta(&push(&mut hs, bgrx), w as u32, h as u32);
    assert_eq!(kps2, lib.keypoints);
    // ARGB and xBGR (alpha or padding first) come from the same format table.
    for (format, order) in [("ARGB", [3, 0, 1, 2]), ("xBGR", [3, 2, 1, 0])] {
        let data: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| order.map(|c| if c == 3 { 255 } else { p[c] }))
            .collect();
        let mut hs = harness(&common::caps(format, w as u32, h as u32));
        let (kps3, _) = check_meta(&push(&mut hs, data), w as u32, h as u32);
        assert_eq!(kps3, lib.keypoints, "{format}");
    }
}

#[test]
fn odd_sizes_keep_keypoints_inside_the_frame() {
    let (w, h) = (161, 119);
    let rgb = common::graf_rgb(w, h);
    let gray = common::luma_of(&rgb);
    // GRAY8 rows are padded to 4 bytes in GStreamer's default layout.
    let stride = w.div_ceil(4) * 4;
    let mut data = vec![0u8; stride * h];
    for y in 0..h {
        data[y * stride..y * stride + w].copy_from_slice(&gray[y * w..(y + 1) * w]);
    }
    let mut hs = harness("video/x-raw,format=GRAY8,width=161,height=119,framerate=30/1");
    let (kps, _) = check_meta(&push(&mut hs, data.clone()), w as u32, h as u32);
    let lib = library_detect(&data, w, h, stride, PixelLayout::Gray);
    assert_eq!(kps, lib.keypoints);
}

#[test]
fn renegotiation_to_a_new_resolution_mid_stream() {
    let mut hs = harness("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let gray = common::luma_of(&common::graf_rgb(160, 120));
    check_meta(&push(&mut hs, gray), 160, 120);
    hs.set_src_caps_str("video/x-raw,format=GRAY8,width=320,height=240,framerate=30/1");
    let gray = common::luma_of(&common::graf_rgb(320, 240));
    check_meta(&push(&mut hs, gray), 320, 240);
}

#[test]
fn settings_change_while_playing() {
    let mut hs = harness("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let gray = common::luma_of(&common::graf_rgb(160, 120));
    check_meta(&push(&mut hs, gray.clone()), 160, 120);
    let el = hs.element().unwrap();
    el.set_property("max-keypoints", 7u32);
    el.set_property("descriptors", false);
    let out = push(&mut hs, gray);
    let meta = out.meta::<SuperPointKeypointsMeta>().unwrap();
    assert_eq!(meta.keypoints().len(), 7);
    assert!(meta.descriptors().is_empty());
    assert!(meta.descriptor(0).is_none());
}

#[test]
fn inference_size_maps_back_to_frame_pixels() {
    let (w, h) = (320, 240);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let mut hs = harness("video/x-raw,format=GRAY8,width=320,height=240,framerate=30/1");
    let el = hs.element().unwrap();
    el.set_property("inference-width", 160u32);
    el.set_property("inference-height", 120u32);
    // Integer heatmap pixels, so that the mapping itself shows.
    el.set_property_from_str("subpixel", "none");
    let (kps, _) = check_meta(&push(&mut hs, gray.clone()), w as u32, h as u32);
    // Network pixel x maps to frame pixel (x + 0.5) * 2 - 0.5 = 2x + 0.5 for a 2x downscale.
    assert!(
        kps.iter()
            .all(|k| (k.x - 0.5).fract() == 0.0 && (k.x + 0.5) as i32 % 2 == 1)
    );
    let mut det = Detector::new(
        &common::random_model(),
        &EngineOptions::default(),
        DetectorConfig {
            descriptors: true,
            inference_width: 160,
            inference_height: 120,
            post: PostParams {
                subpixel: superpoint::subpixel::Subpixel::None,
                ..PostParams::default()
            },
            scales: Default::default(),
        },
    )
    .unwrap();
    let mut lib = Detections::default();
    det.detect(
        &Frame::new(&gray, w, h, w, PixelLayout::Gray).unwrap(),
        &mut lib,
    )
    .unwrap();
    assert_eq!(kps, lib.keypoints);
}

#[test]
fn element_messages_carry_keypoints() {
    let mut hs = harness("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let el = hs.element().unwrap();
    el.set_property("post-messages", true);
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let out = push(&mut hs, common::luma_of(&common::graf_rgb(160, 120)));
    let count = out
        .meta::<SuperPointKeypointsMeta>()
        .unwrap()
        .keypoints()
        .len() as u32;
    let msg = std::iter::from_fn(|| bus.pop())
        .find_map(|m| KeypointsMessage::from_message(&m))
        .expect("superpoint-keypoints message")
        .expect("a well-formed superpoint-keypoints message");
    assert_eq!(msg.count(), count);
    assert_eq!(msg.keypoints.len() as u32, count);
    assert_eq!(msg.pts, Some(gst::ClockTime::from_mseconds(40)));
}

#[test]
fn element_messages_carry_descriptors_on_request() {
    let mut hs = harness("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let el = hs.element().unwrap();
    el.set_property("post-messages", true);
    assert!(!el.property::<bool>("message-descriptors"), "opt-in");
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let frame = common::luma_of(&common::graf_rgb(160, 120));
    let next_message = || {
        std::iter::from_fn(|| bus.pop())
            .find_map(|m| KeypointsMessage::from_message(&m))
            .expect("superpoint-keypoints message")
            .expect("a well-formed superpoint-keypoints message")
    };
    // Default: keypoints only.
    push(&mut hs, frame.clone());
    let plain = next_message();
    assert!(plain.descriptors.is_none());
    // message-descriptors=true (while playing): count x 256 floats, the meta's, in keypoint order.
    hs.element()
        .unwrap()
        .set_property("message-descriptors", true);
    let out = push(&mut hs, frame.clone());
    let msg = next_message();
    let meta = out.meta::<SuperPointKeypointsMeta>().unwrap();
    let d = msg
        .descriptors
        .as_ref()
        .expect("descriptors in the message");
    assert!(msg.count() > 0);
    assert_eq!(d.size, 256);
    assert_eq!(d.data.len(), msg.keypoints.len() * 256);
    for i in 0..msg.keypoints.len() {
        let row = d.row(i).unwrap();
        assert_eq!(Some(row), meta.descriptor(i));
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "keypoint {i}: norm {norm}");
    }
    // Frames without descriptors get neither field.
    hs.element().unwrap().set_property("descriptors", false);
    push(&mut hs, frame);
    assert!(next_message().descriptors.is_none());
}

/// Runs `desc` to PAUSED and returns the first error message on the bus.
fn first_error(desc: &str) -> String {
    common::init();
    let pipeline = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("an error within 30 s");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} | {}", e.error(), e.debug().unwrap_or_default()),
        _ => panic!("expected an error, got EOS"),
    }
}

#[test]
fn missing_model_names_the_file() {
    let err = first_error(
        "videotestsrc num-buffers=1 ! superpointdetect model=/nonexistent/sp.onnx ! fakesink",
    );
    assert!(
        err.contains("/nonexistent/sp.onnx") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn file_that_is_not_onnx_is_rejected() {
    let path = std::env::temp_dir().join(format!("not-onnx-{}.onnx", std::process::id()));
    std::fs::write(&path, b"this is not a protobuf \xff\xff\xff").unwrap();
    let err = first_error(&format!(
        "videotestsrc num-buffers=1 ! superpointdetect model={} ! fakesink",
        path.display()
    ));
    assert!(err.contains("not an ONNX model"), "{err}");
}

#[test]
fn onnx_model_with_wrong_inputs_is_rejected() {
    use prost::Message;
    use superpoint::onnx::proto::*;
    // A valid ONNX model (Identity x -> y) that is not SuperPoint.
    let vi = |name: &str| ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(tensor_proto::DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: vec![tensor_shape_proto::Dimension {
                        value: Some(tensor_shape_proto::dimension::Value::DimValue(4)),
                        ..Default::default()
                    }],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            name: Some("identity".into()),
            node: vec![NodeProto {
                input: vec!["x".into()],
                output: vec!["y".into()],
                op_type: Some("Identity".into()),
                ..Default::default()
            }],
            input: vec![vi("x")],
            output: vec![vi("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let path = std::env::temp_dir().join(format!("identity-{}.onnx", std::process::id()));
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let err = first_error(&format!(
        "videotestsrc num-buffers=1 ! superpointdetect model={} ! fakesink",
        path.display()
    ));
    assert!(
        err.contains("does not look like a SuperPoint model: inputs are `x`; ")
            && err.contains("expected input `image`"),
        "{err}"
    );
    // An `image` input of the wrong shape is described in words, not Rust debug text.
    let mut model = model;
    let graph = model.graph.as_mut().unwrap();
    graph.input = vec![vi("image")];
    graph.node[0].input = vec!["image".into()];
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let err = first_error(&format!(
        "videotestsrc num-buffers=1 ! superpointdetect model={} ! fakesink",
        path.display()
    ));
    std::fs::remove_file(&path).ok();
    assert!(
        err.contains("does not look like a SuperPoint model: input `image` is float32 4; expected"),
        "{err}"
    );
}

#[test]
fn frames_smaller_than_16x16_are_refused_with_the_minimum() {
    let mut hs = harness("video/x-raw,format=GRAY8,width=8,height=8,framerate=30/1");
    let res = hs.push(gst::Buffer::from_mut_slice(vec![0u8; 64]));
    assert_eq!(res, Err(gst::FlowError::NotNegotiated));
    // In a pipeline, the error on the bus names the size, the minimum and the fix.
    let err = first_error(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8,width=8,height=15 ! superpointdetect model={} ! fakesink",
        common::random_model().display()
    ));
    assert!(
        err.contains("frame 8x15 is too small: SuperPoint needs at least 16x16 pixels")
            && err.contains("videoscale"),
        "{err}"
    );
}

#[test]
fn out_of_range_properties_are_refused() {
    common::init();
    let el = gst::ElementFactory::make("superpointdetect")
        .build()
        .unwrap();
    let threshold = el.find_property("threshold").unwrap();
    let threshold = threshold.downcast_ref::<glib::ParamSpecFloat>().unwrap();
    assert_eq!((threshold.minimum(), threshold.maximum()), (0.0, 1.0));
    let nms = el.find_property("nms-radius").unwrap();
    assert_eq!(
        nms.downcast_ref::<glib::ParamSpecUInt>().unwrap().maximum(),
        64
    );
    // Set through a launch line (as gst-launch users do): GLib refuses it, the value is unchanged.
    let p = gst::parse::launch("fakesrc ! superpointdetect name=d threshold=7 ! fakesink").unwrap();
    let d = p.downcast::<gst::Bin>().unwrap().by_name("d").unwrap();
    assert_eq!(d.property::<f32>("threshold"), 0.015);
}

#[test]
fn inference_size_set_on_one_side_only_is_an_error() {
    let err = first_error(&format!(
        "videotestsrc num-buffers=1 ! superpointdetect model={} inference-width=320 ! fakesink",
        common::random_model().display()
    ));
    assert!(
        err.contains("inference-width and inference-height"),
        "{err}"
    );
}

#[test]
fn json_lines_output_has_one_record_per_frame() {
    let json = std::env::temp_dir().join(format!("sp-{}.jsonl", std::process::id()));
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 pattern=ball ! video/x-raw,width=64,height=48 ! superpointdetect model={} json-location={} ! fakesink",
        common::random_model().display(),
        json.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .unwrap();
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    pipeline.set_state(gst::State::Null).unwrap();
    let text = std::fs::read_to_string(&json).unwrap();
    let records: Vec<superpoint::json::FrameRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.frame, i as u64);
        assert_eq!((r.width, r.height), (64, 48));
        assert!(
            r.keypoints
                .iter()
                .all(|k| k[0] >= 0.0 && k[0] < 64.0 && k[1] >= 0.0 && k[1] < 48.0)
        );
    }
}

#[test]
fn cuda_provider_falls_back_to_cpu_with_a_warning_or_fails_when_strict() {
    common::init();
    // The CPU build of ONNX Runtime used in tests has no CUDA provider.
    let err = superpoint::Engine::new(
        &common::random_model(),
        &EngineOptions {
            provider: superpoint::Provider::Cuda,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, superpoint::Error::ProviderUnavailable(_)),
        "{err}"
    );
    assert!(err.to_string().contains("onnxruntime-gpu"), "{err}");

    let el = gst::ElementFactory::make("superpointdetect")
        .property("model", common::random_model().to_str().unwrap())
        .property_from_str("provider", "cuda")
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut h = gst_check::Harness::with_element(&el, Some("sink"), Some("src"));
    h.play();
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let out = push(&mut h, common::luma_of(&common::graf_rgb(160, 120)));
    check_meta(&out, 160, 120);
    let warning = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => {
                Some(w.error().to_string() + &w.debug().unwrap_or_default())
            }
            _ => None,
        })
        .expect("a warning about the CPU fallback");
    assert!(warning.contains("running on the CPU"), "{warning}");

    let err = first_error(&format!(
        "videotestsrc num-buffers=1 ! superpointdetect provider=cuda provider-fallback=false model={} ! fakesink",
        common::random_model().display()
    ));
    assert!(err.contains("CUDA"), "{err}");
}

/// Runs the launch lines concurrently to EOS and returns each one's JSON Lines records.
fn run_to_eos(lines: &[String]) -> Vec<Vec<superpoint::json::FrameRecord>> {
    common::init();
    let pipelines: Vec<gst::Element> = lines
        .iter()
        .map(|l| gst::parse::launch(l).unwrap())
        .collect();
    for p in &pipelines {
        p.set_state(gst::State::Playing).unwrap();
    }
    for p in &pipelines {
        let msg = p
            .bus()
            .unwrap()
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(60),
                &[gst::MessageType::Error, gst::MessageType::Eos],
            )
            .unwrap();
        assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
        p.set_state(gst::State::Null).unwrap();
    }
    lines
        .iter()
        .map(|l| {
            let path = l
                .split("json-location=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .map(|x| serde_json::from_str(x).unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn batch_group_streams_get_the_same_keypoints_as_unbatched() {
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let line = |pattern: &str, extra: &str, tag: &str| {
        format!(
            "videotestsrc num-buffers=4 pattern={pattern} ! video/x-raw,format=GRAY8,width=96,height=64 ! superpointdetect model={} {extra} json-location={}/bg-{pid}-{tag}.jsonl ! fakesink",
            common::random_model().display(),
            tmp.display()
        )
    };
    let batched = run_to_eos(&[
        line(
            "ball",
            "batch-group=g1 batch-size=2 max-latency=200000",
            "a",
        ),
        line(
            "snow",
            "batch-group=g1 batch-size=2 max-latency=200000",
            "b",
        ),
    ]);
    let alone = run_to_eos(&[line("ball", "", "c"), line("snow", "", "d")]);
    for (b, a) in batched.iter().zip(&alone) {
        assert_eq!(b.len(), 4);
        for (rb, ra) in b.iter().zip(a) {
            assert_eq!(rb.keypoints.len(), ra.keypoints.len());
            for (kb, ka) in rb.keypoints.iter().zip(&ra.keypoints) {
                assert!(
                    (kb[0] - ka[0]).abs() < 1e-3
                        && (kb[1] - ka[1]).abs() < 1e-3
                        && (kb[2] - ka[2]).abs() < 1e-4
                );
            }
        }
    }
    // Members must agree on the group's settings.
    let err = run_to_eos_error(&[
        line("ball", "batch-group=g2 batch-size=2", "e"),
        line("ball", "batch-group=g2 batch-size=3", "f"),
    ]);
    assert!(
        err.contains("same model, provider and batching settings"),
        "{err}"
    );
}

fn run_to_eos_error(lines: &[String]) -> String {
    common::init();
    let pipelines: Vec<gst::Element> = lines
        .iter()
        .map(|l| gst::parse::launch(l).unwrap())
        .collect();
    let mut errors = String::new();
    for p in &pipelines {
        let _ = p.set_state(gst::State::Paused);
        let msg = p.bus().unwrap().timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Error, gst::MessageType::AsyncDone],
        );
        if let Some(gst::MessageView::Error(e)) = msg.as_ref().map(|m| m.view()) {
            errors += &format!("{} | {}", e.error(), e.debug().unwrap_or_default());
        }
    }
    for p in &pipelines {
        p.set_state(gst::State::Null).unwrap();
    }
    errors
}

/// Keypoints and descriptors of every buffer reaching the sink of `desc` (which must end in
/// `fakesink name=sink`), with whether each carried a `GstVideoMeta` and its first stride.
type Seen = (Vec<superpoint::Keypoint>, Vec<f32>, Option<i32>);

fn run_pipeline(desc: &str) -> Vec<Seen> {
    common::run_to_eos(desc, "sink", 60, |buf| {
        let meta = buf
            .meta::<SuperPointKeypointsMeta>()
            .expect("keypoints meta");
        (
            meta.keypoints().to_vec(),
            meta.descriptors().to_vec(),
            buf.meta::<gst_video::VideoMeta>().map(|m| m.stride()[0]),
        )
    })
}

#[test]
fn rawvideoparse_strides_give_the_keypoints_of_the_image_file() {
    // GRAY8 161x120: the caps layout pads rows to 164 bytes; rawvideoparse describes its real
    // layout (rows of 161 or 192 bytes) in a GstVideoMeta.
    let (w, h) = (161usize, 120usize);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let pid = std::process::id();
    let image = std::env::temp_dir().join(format!("stride-{pid}.pgm"));
    common::write_pgm(&image, &gray, w, h);
    // What `superpoint detect` gives on the image file (same loader, same detector).
    let img = superpoint::image_io::OwnedImage::load(&image).unwrap();
    let mut det = Detector::new(
        &common::random_model(),
        &EngineOptions::default(),
        DetectorConfig {
            descriptors: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut want = Detections::default();
    det.detect(&img.frame().unwrap(), &mut want).unwrap();
    assert!(want.keypoints.len() > 20);
    for stride in [161usize, 192] {
        let mut raw = vec![0xA5u8; stride * h];
        for y in 0..h {
            raw[y * stride..y * stride + w].copy_from_slice(&gray[y * w..(y + 1) * w]);
        }
        let path = std::env::temp_dir().join(format!("stride-{pid}-{stride}.raw"));
        std::fs::write(&path, &raw).unwrap();
        let seen = run_pipeline(&format!(
            "filesrc location={} ! rawvideoparse format=gray8 width={w} height={h} plane-strides=<{stride}> ! superpointdetect model={} ! fakesink name=sink",
            path.display(),
            common::random_model().display()
        ));
        assert_eq!(seen.len(), 1, "stride {stride}");
        let (kps, desc, meta_stride) = &seen[0];
        assert_eq!(
            *meta_stride,
            Some(stride as i32),
            "the buffer carries the real stride"
        );
        assert_eq!(kps, &want.keypoints, "stride {stride}");
        assert_eq!(desc, &want.descriptors, "stride {stride}");
        std::fs::remove_file(path).ok();
    }
    std::fs::remove_file(image).ok();
}

#[test]
fn video_meta_strides_and_offsets_are_used_in_every_format() {
    use gst_video::VideoFormat as F;
    let (w, h) = (161usize, 120usize);
    let rgb = common::graf_rgb(w, h);
    let gray = common::luma_of(&rgb);
    let lib_gray = library_detect(&gray, w, h, w, PixelLayout::Gray);
    let lib_rgb = library_detect(&rgb, w, h, w * 3, PixelLayout::RGB);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let chroma = vec![128u8; cw * ch];
    let four = |order: [usize; 3]| -> Vec<u8> {
        rgb.chunks_exact(3)
            .flat_map(|p| [p[order[0]], p[order[1]], p[order[2]], 255])
            .collect()
    };
    let bgr: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    type Case = (F, Vec<Vec<u8>>, Vec<usize>, Vec<usize>, bool);
    let cases: Vec<Case> = vec![
        (F::Gray8, vec![gray.clone()], vec![w], vec![h], true),
        (
            F::I420,
            vec![gray.clone(), chroma.clone(), chroma.clone()],
            vec![w, cw, cw],
            vec![h, ch, ch],
            true,
        ),
        (
            F::Nv12,
            vec![gray.clone(), vec![128u8; cw * 2 * ch]],
            vec![w, cw * 2],
            vec![h, ch],
            true,
        ),
        (F::Rgb, vec![rgb.clone()], vec![w * 3], vec![h], false),
        (F::Bgr, vec![bgr], vec![w * 3], vec![h], false),
        (F::Rgbx, vec![four([0, 1, 2])], vec![w * 4], vec![h], false),
        (F::Bgra, vec![four([2, 1, 0])], vec![w * 4], vec![h], false),
    ];
    for (format, planes, row_bytes, heights, is_gray) in cases {
        let mut hs = harness(&format!(
            "video/x-raw,format={},width={w},height={h},framerate=30/1",
            format.to_str()
        ));
        for (lead, pad) in [(0, 0), (100, 31), (7, 64)] {
            let buf = common::buffer_with_video_meta(
                format,
                (w as u32, h as u32),
                &planes,
                &row_bytes,
                &heights,
                lead,
                pad,
            );
            let out = hs.push_and_pull(buf).unwrap();
            let (kps, _) = check_meta(&out, w as u32, h as u32);
            let want = if is_gray { &lib_gray } else { &lib_rgb };
            assert_eq!(kps, want.keypoints, "{format:?} lead {lead} pad {pad}");
        }
    }
}

/// Distance of a keypoint to the nearest frame edge, from pixel centres.
fn edge_distance(k: &superpoint::Keypoint, w: usize, h: usize) -> f32 {
    k.x.min(k.y)
        .min(w as f32 - 1.0 - k.x)
        .min(h as f32 - 1.0 - k.y)
}

/// Keypoints of the element on a graf crop of `w` x `h` with the given properties, at integer
/// heatmap pixels (`subpixel=none`) so that positions sit on the heatmap grid.
fn element_keypoints(w: usize, h: usize, props: &[(&str, u32)]) -> Vec<superpoint::Keypoint> {
    element_keypoints_with(w, h, "none", props)
}

/// [`element_keypoints`] with the element's `subpixel` set to `subpixel`.
fn element_keypoints_with(
    w: usize,
    h: usize,
    subpixel: &str,
    props: &[(&str, u32)],
) -> Vec<superpoint::Keypoint> {
    let mut hs = harness(&format!(
        "video/x-raw,format=GRAY8,width={w},height={h},framerate=30/1"
    ));
    let el = hs.element().unwrap();
    el.set_property_from_str("subpixel", subpixel);
    for (k, v) in props {
        el.set_property(k, *v);
    }
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let out = push(&mut hs, gray);
    out.meta::<SuperPointKeypointsMeta>()
        .unwrap()
        .keypoints()
        .to_vec()
}

/// Checks that `border` and `nms-radius` act in frame pixels for a `w` x `h` frame resized to
/// `iw` x `ih`; returns the keypoints with border=4, nms-radius=4 and those with border=0.
fn check_frame_pixel_settings(
    (w, h): (usize, usize),
    (iw, ih): (u32, u32),
) -> (Vec<superpoint::Keypoint>, Vec<superpoint::Keypoint>) {
    let props = |border: u32| {
        vec![
            ("inference-width", iw),
            ("inference-height", ih),
            ("border", border),
            ("nms-radius", 4),
            ("max-keypoints", 0),
        ]
    };
    let kps = element_keypoints(w, h, &props(4));
    let all = element_keypoints(w, h, &props(0));
    assert!(kps.len() > 20, "{} keypoints", kps.len());
    // No keypoint within 4 frame pixels of the edge...
    let nearest = kps
        .iter()
        .map(|k| edge_distance(k, w, h))
        .fold(f32::INFINITY, f32::min);
    assert!(nearest >= 4.0, "a keypoint {nearest} px from the edge");
    // ...and exactly the border=0 keypoints that are not (the border is applied after NMS, so
    // this is an identity).
    let filtered: Vec<_> = all
        .iter()
        .copied()
        .filter(|k| edge_distance(k, w, h) >= 4.0)
        .collect();
    assert_eq!(kps, filtered);
    assert!(filtered.len() < all.len(), "the border removed nothing");
    // Non-maximum suppression: kept keypoints are more than 4 frame pixels apart on some axis.
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            let d = (a.x - b.x).abs().max((a.y - b.y).abs());
            assert!(d > 4.0 - 1e-3, "{a:?} and {b:?} are {d} px apart");
        }
    }
    (kps, all)
}

#[test]
fn border_and_nms_radius_are_frame_pixels_when_upscaled() {
    // 160x120 run at 320x240: one network pixel is half a frame pixel.
    check_frame_pixel_settings((160, 120), (320, 240));
}

#[test]
fn border_and_nms_radius_are_frame_pixels_when_downscaled() {
    // 320x240 run at 160x120: one network pixel is two frame pixels. Counted in network pixels,
    // border=4 would keep nothing nearer than 8.5 px to the edge and nms-radius=4 nothing nearer
    // than 10 px to a stronger keypoint.
    let (w, h) = (320, 240);
    let (kps, all) = check_frame_pixel_settings((w, h), (160, 120));
    let nearest = kps
        .iter()
        .map(|k| edge_distance(k, w, h))
        .fold(f32::INFINITY, f32::min);
    assert!(nearest < 8.0, "nearest keypoint {nearest} px from the edge");
    let closest = all
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            all[i + 1..]
                .iter()
                .map(move |b| (a.x - b.x).abs().max((a.y - b.y).abs()))
        })
        .fold(f32::INFINITY, f32::min);
    assert!(closest <= 8.0, "closest pair {closest} px apart");
}

#[test]
fn subpixel_refinement_moves_keypoints_off_the_grid_and_keeps_the_border() {
    let (w, h) = (320, 240);
    let props = [("border", 4), ("max-keypoints", 0)];
    let grid = element_keypoints_with(w, h, "none", &props);
    for (subpixel, max_shift) in [("soft-argmax-5", 2.0), ("quadratic", 0.5)] {
        let refined = element_keypoints_with(w, h, subpixel, &props);
        // The same peaks (refinement follows NMS and top-k), each moved by at most the window
        // radius (soft-argmax) or half a pixel (quadratic), and at least one moved.
        assert_eq!(refined.len(), grid.len(), "{subpixel}");
        let mut moved = 0;
        for (r, g) in refined.iter().zip(&grid) {
            let shift = (r.x - g.x).abs().max((r.y - g.y).abs());
            assert!(shift <= max_shift + 1e-4, "{subpixel}: {g:?} -> {r:?}");
            moved += (shift > 0.01) as usize;
            assert!(
                edge_distance(r, w, h) >= 4.0,
                "{subpixel}: {r:?} inside the border"
            );
        }
        assert!(moved > 0, "{subpixel}: no keypoint of {} moved", grid.len());
    }
}

#[test]
fn json_location_is_complete_when_eos_reaches_the_bus_and_flushed_per_frame() {
    common::init();
    let json = std::env::temp_dir().join(format!("sp-eos-{}.jsonl", std::process::id()));
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,format=GRAY8,width=64,height=48 ! superpointdetect model={} json-location={} ! fakesink name=sink",
        common::random_model().display(),
        json.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // When buffer k reaches the sink, its line (and all before) must already be in the file: a
    // process killed now loses nothing that went downstream.
    let lines_at_sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = lines_at_sink.clone();
    let path = json.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            seen.lock().unwrap().push(lines);
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .unwrap();
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    // Read while the pipeline is still PLAYING: nothing may wait for the state change to NULL.
    let text = std::fs::read_to_string(&json).unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(text.lines().count(), 10);
    for (i, line) in text.lines().enumerate() {
        let r: superpoint::json::FrameRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.frame, i as u64);
    }
    let at_sink = lines_at_sink.lock().unwrap().clone();
    assert_eq!(at_sink.len(), 10);
    for (k, lines) in at_sink.iter().enumerate() {
        assert!(
            *lines > k,
            "buffer {k} at the sink, {lines} lines in the file"
        );
    }
    std::fs::remove_file(json).ok();
}

/// The `ignoring the new settings` warnings on `bus` so far.
fn settings_warnings(bus: &gst::Bus) -> Vec<String> {
    std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => {
                Some(format!("{} | {}", w.error(), w.debug().unwrap_or_default()))
            }
            gst::MessageView::Error(e) => panic!("error on the bus: {}", e.error()),
            _ => None,
        })
        .filter(|w| w.contains("ignoring the new settings"))
        .collect()
}

#[test]
fn invalid_settings_while_playing_keep_the_last_valid_ones_and_warn_once() {
    let mut hs = harness("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let el = hs.element().unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let gray = common::luma_of(&common::graf_rgb(160, 120));
    let native = library_detect(&gray, 160, 120, 160, PixelLayout::Gray);
    check_meta(&push(&mut hs, gray.clone()), 160, 120);
    // Half of a pair, then a side below 16: each kept out with one warning, frames go on.
    el.set_property("inference-width", 80u32);
    for _ in 0..3 {
        let (kps, _) = check_meta(&push(&mut hs, gray.clone()), 160, 120);
        assert_eq!(kps, native.keypoints);
    }
    let w = settings_warnings(&bus);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("inference-width and inference-height") && w[0].contains("inference 0x0"),
        "{}",
        w[0]
    );
    el.set_property("inference-height", 8u32);
    for _ in 0..2 {
        let (kps, _) = check_meta(&push(&mut hs, gray.clone()), 160, 120);
        assert_eq!(kps, native.keypoints);
    }
    let w = settings_warnings(&bus);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("at least 16, got 8"), "{}", w[0]);
    // Completed to a valid pair: applied at the next frame, no further warning.
    el.set_property("inference-height", 64u32);
    let (kps, _) = check_meta(&push(&mut hs, gray.clone()), 160, 120);
    let mut det = Detector::new(
        &common::random_model(),
        &EngineOptions::default(),
        DetectorConfig {
            descriptors: true,
            inference_width: 80,
            inference_height: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let mut want = Detections::default();
    det.detect(
        &Frame::new(&gray, 160, 120, 160, PixelLayout::Gray).unwrap(),
        &mut want,
    )
    .unwrap();
    assert_eq!(kps, want.keypoints);
    assert!(settings_warnings(&bus).is_empty());
}

#[test]
fn descriptors_on_a_detector_only_model_while_playing_are_a_warning() {
    common::init();
    let model = std::env::temp_dir().join("superpoint-test-detector-only-5.onnx");
    superpoint::onnx::SuperPointWeights::write_random_model(&model, 5, false, "random-test")
        .unwrap();
    let el = gst::ElementFactory::make("superpointdetect")
        .property("model", model.to_str().unwrap())
        .property("descriptors", false)
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut hs = gst_check::Harness::with_element(&el, Some("sink"), Some("src"));
    hs.play();
    hs.set_src_caps_str("video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1");
    let gray = common::luma_of(&common::graf_rgb(160, 120));
    push(&mut hs, gray.clone());
    el.set_property("descriptors", true);
    for _ in 0..3 {
        let out = push(&mut hs, gray.clone());
        let meta = out.meta::<SuperPointKeypointsMeta>().unwrap();
        assert!(!meta.keypoints().is_empty());
        assert!(meta.descriptors().is_empty());
    }
    let w = settings_warnings(&bus);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("descriptor"), "{}", w[0]);
    std::fs::remove_file(model).ok();
}

#[test]
fn inference_size_changed_on_a_live_stream_takes_effect_without_stopping_it() {
    common::init();
    let (w, h) = (160usize, 120usize);
    let pipeline = common::pipeline(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=GRAY8,width={w},height={h},framerate=30/1 ! superpointdetect name=d model={} ! fakesink name=sink sync=true",
        common::random_model().display()
    ));
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Gray8, w as u32, h as u32)
        .build()
        .unwrap();
    // Per buffer at the sink: its pixels (packed) and keypoints.
    let frames = common::probe_buffers(&pipeline, "sink", move |buf| {
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info).unwrap();
        let stride = frame.plane_stride()[0] as usize;
        let data = frame.plane_data(0).unwrap();
        let pixels: Vec<u8> = (0..h)
            .flat_map(|y| data[y * stride..y * stride + w].to_vec())
            .collect();
        let kps = buf
            .meta::<SuperPointKeypointsMeta>()
            .unwrap()
            .keypoints()
            .to_vec();
        (pixels, kps)
    });
    let bus = pipeline.bus().unwrap();
    let count = || frames.lock().unwrap().len();
    let warnings = std::cell::Cell::new(0);
    let count_warning = |m: &gst::Message| {
        if let gst::MessageView::Warning(w) = m.view()
            && w.error().to_string().contains("ignoring")
        {
            warnings.set(warnings.get() + 1)
        }
    };
    let wait_for = |n: usize| common::wait_for(&bus, &frames, 30, count_warning, |f| f.len() >= n);
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_for(5);
    let d = pipeline.by_name("d").unwrap();
    let before = count();
    d.set_property("inference-width", 80u32);
    std::thread::sleep(std::time::Duration::from_millis(100));
    // At least two frames through with only the width set (on a slow machine, wait for them).
    wait_for(before + 2);
    d.set_property("inference-height", 64u32);
    let set_at = count();
    wait_for(set_at + 10);
    pipeline.set_state(gst::State::Null).unwrap();
    while let Some(m) = bus.pop() {
        if let gst::MessageView::Error(e) = m.view() {
            panic!("error: {}", e.error());
        }
        count_warning(&m);
    }
    assert_eq!(warnings.get(), 1, "one warning about the half-set pair");
    // Every frame has the keypoints of the native size or of 80x64, switching once, for good.
    let detector = |iw, ih| {
        Detector::new(
            &common::random_model(),
            &EngineOptions::default(),
            DetectorConfig {
                descriptors: true,
                inference_width: iw,
                inference_height: ih,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let (mut native, mut small) = (detector(0, 0), detector(80, 64));
    let frames = frames.lock().unwrap();
    let mut switched_at = None;
    for (i, (pixels, kps)) in frames.iter().enumerate() {
        let frame = Frame::new(pixels, w, h, w, PixelLayout::Gray).unwrap();
        let mut want = Detections::default();
        let d = if switched_at.is_some() {
            &mut small
        } else {
            &mut native
        };
        d.detect(&frame, &mut want).unwrap();
        if *kps != want.keypoints {
            assert!(
                switched_at.is_none(),
                "frame {i} has neither size's keypoints"
            );
            small.detect(&frame, &mut want).unwrap();
            assert_eq!(*kps, want.keypoints, "frame {i}");
            switched_at = Some(i);
        }
    }
    let switched_at = switched_at.expect("80x64 never took effect");
    assert!(
        switched_at >= before,
        "switched at {switched_at} before {before}"
    );
    assert!(frames.len() >= switched_at + 5);
}

/// Cost of json-location's per-frame flush: the element's write path (serde_json into a
/// `BufWriter<File>`, newline) with and without the flush after each line. Run with
/// `cargo test --release -p gst-plugin-superpoint --test superpointdetect -- --ignored --nocapture bench_json`.
#[test]
#[ignore]
fn bench_json_location_flush_per_frame() {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!("sp-bench-{}.jsonl", std::process::id()));
    for n_keypoints in [100usize, 1000] {
        let keypoints = superpoint::tracking::KeypointsData {
            width: 640,
            height: 480,
            keypoints: (0..n_keypoints)
                .map(|i| superpoint::Keypoint {
                    x: (i % 640) as f32 + 0.25,
                    y: (i / 640) as f32 * 7.5,
                    score: 0.0123 + i as f32 * 1e-5,
                })
                .collect(),
            descriptors: Vec::new(),
            model_id: "random-test".into(),
            scales: Vec::new(),
        };
        let record =
            superpoint::json::FrameRecord::new(0, Some(40_000_000), &keypoints, None, false);
        let frames = 5000;
        let mut per_line = [0.0; 2];
        for (k, flush) in [false, true].into_iter().enumerate() {
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
                let t = std::time::Instant::now();
                for _ in 0..frames {
                    serde_json::to_writer(&mut w, &record).unwrap();
                    w.write_all(b"\n").unwrap();
                    if flush {
                        w.flush().unwrap();
                    }
                }
                w.flush().unwrap();
                best = best.min(t.elapsed().as_secs_f64() / frames as f64);
            }
            per_line[k] = best;
        }
        let bytes = std::fs::metadata(&path).unwrap().len() / frames;
        println!(
            "json-location, {n_keypoints} keypoints ({bytes} bytes/line): {:.1} us/frame buffered, {:.1} us/frame flushed per frame (+{:.1} us)",
            per_line[0] * 1e6,
            per_line[1] * 1e6,
            (per_line[1] - per_line[0]) * 1e6
        );
    }
    std::fs::remove_file(path).ok();
}
