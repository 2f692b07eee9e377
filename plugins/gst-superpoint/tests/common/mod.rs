//! Shared set-up for the element tests: GStreamer + plugin registration, an element in a
//! Harness, start errors, a random-weights model written by the library's ONNX writer (plumbing
//! only), real frames from Debian's opencv-doc, buffers with a `GstVideoMeta`, and CPU time.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

#[path = "../../../superpoint/tests/common/onnx_variant.rs"]
pub mod onnx_variant;

use gst::prelude::*;
use superpoint::image_io::OwnedImage;
use superpoint::onnx::SuperPointWeights;

/// Real photograph used by the tests (Debian package `opencv-doc`, installed by scripts/setup.sh).
pub const GRAF1: &str = "/usr/share/doc/opencv-doc/examples/data/graf1.png";

pub fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        assert!(
            std::env::var_os("ORT_DYLIB_PATH").is_some(),
            "set ORT_DYLIB_PATH to libonnxruntime.so (scripts/setup.sh installs it; scripts/test.sh sets it)"
        );
        gst::init().unwrap();
        gstsuperpoint::plugin_register_static().expect("register plugin");
    });
}

/// A SuperPoint-shaped model with random weights (marked untrained), written once per process to
/// one shared file (same content for every test process; the writer replaces it atomically), so
/// test runs do not pile up models in the temporary folder.
pub fn random_model() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join("superpoint-test-random-42.onnx");
        SuperPointWeights::write_random_model(&path, 42, true, "random-test").unwrap();
        path
    })
    .clone()
}

/// Caps of raw video in `format` (e.g. `GRAY8`) at `w` x `h`, 30 frames/s.
pub fn caps(format: &str, w: u32, h: u32) -> String {
    format!("video/x-raw,format={format},width={w},height={h},framerate=30/1")
}

/// The element `factory` with `props` (set from strings, as `gst-launch-1.0` would) in a playing
/// Harness whose source caps are `caps`.
pub fn harness(factory: &str, props: &[(&str, &str)], caps: &str) -> gst_check::Harness {
    init();
    let el = gst::ElementFactory::make(factory).build().unwrap();
    for (k, v) in props {
        el.set_property_from_str(k, v);
    }
    let mut hs = gst_check::Harness::with_element(&el, Some("sink"), Some("src"));
    hs.play();
    hs.set_src_caps_str(caps);
    hs
}

/// A new bus set on `el`, to read what it posts.
pub fn bus_for(el: &gst::Element) -> gst::Bus {
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    bus
}

/// The first error message on `bus` as `"<error> <debug>"`; panics when there is none.
pub fn error_text(bus: &gst::Bus) -> String {
    let msg = bus
        .pop_filtered(&[gst::MessageType::Error])
        .expect("an error message");
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
        _ => unreachable!(),
    }
}

/// The error the element `factory` with `props` posts when it fails to reach PAUSED (asserted).
pub fn start_error(factory: &str, props: &[(&str, &str)]) -> String {
    init();
    let el = gst::ElementFactory::make(factory).build().unwrap();
    for (k, v) in props {
        el.set_property_from_str(k, v);
    }
    let bus = bus_for(&el);
    assert!(
        el.set_state(gst::State::Paused).is_err(),
        "{factory} {props:?} started"
    );
    let text = error_text(&bus);
    let _ = el.set_state(gst::State::Null);
    text
}

fn cpu_clock_seconds(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; the clock ids are Linux constants.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock})");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// CPU seconds used by the whole process so far (all threads): less sensitive than wall time to
/// other load on the machine.
pub fn process_cpu_seconds() -> f64 {
    cpu_clock_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU seconds used by the calling thread so far.
pub fn thread_cpu_seconds() -> f64 {
    cpu_clock_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// graf1.png as RGB, cropped to `w` x `h` from its top-left corner.
pub fn graf_rgb(w: usize, h: usize) -> Vec<u8> {
    let img = OwnedImage::load(std::path::Path::new(GRAF1))
        .unwrap_or_else(|e| panic!("{e}: install Debian's opencv-doc (scripts/setup.sh does)"));
    let rgb = match img.layout {
        superpoint::PixelLayout::Gray => img.data.iter().flat_map(|&v| [v, v, v]).collect(),
        _ => img.data.clone(),
    };
    assert!(w <= img.width && h <= img.height);
    (0..h)
        .flat_map(|y| rgb[y * img.width * 3..(y * img.width + w) * 3].to_vec())
        .collect()
}

/// BT.601 luma of an RGB image, rounded to bytes.
pub fn luma_of(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| (superpoint::frame::luma(p[0], p[1], p[2]) * 255.0).round() as u8)
        .collect()
}

/// A buffer holding `planes` (packed rows of `row_bytes[i]` bytes, `heights[i]` rows) laid out
/// as a decoder or camera might: `lead` junk bytes first, every row padded by `pad` junk bytes
/// (0xA5), described by a `GstVideoMeta` whose strides and offsets differ from the caps layout.
pub fn buffer_with_video_meta(
    format: gst_video::VideoFormat,
    (width, height): (u32, u32),
    planes: &[Vec<u8>],
    row_bytes: &[usize],
    heights: &[usize],
    lead: usize,
    pad: usize,
) -> gst::Buffer {
    let mut data = vec![0xA5u8; lead];
    let mut offsets = Vec::new();
    let mut strides = Vec::new();
    for ((plane, &rb), &ph) in planes.iter().zip(row_bytes).zip(heights) {
        assert_eq!(plane.len(), rb * ph);
        offsets.push(data.len());
        strides.push((rb + pad) as i32);
        for row in plane.chunks_exact(rb) {
            data.extend_from_slice(row);
            data.extend(std::iter::repeat_n(0xA5u8, pad));
        }
    }
    let mut buf = gst::Buffer::from_mut_slice(data);
    gst_video::VideoMeta::add_full(
        buf.get_mut().unwrap(),
        gst_video::VideoFrameFlags::empty(),
        format,
        width,
        height,
        &offsets,
        &strides,
    )
    .unwrap();
    buf
}

/// Writes `gray` (`w` x `h`, packed) as a binary PGM file, the format `superpoint detect` reads
/// like PNG and JPEG.
pub fn write_pgm(path: &std::path::Path, gray: &[u8], w: usize, h: usize) {
    let mut bytes = format!("P5\n{w} {h}\n255\n").into_bytes();
    bytes.extend_from_slice(gray);
    std::fs::write(path, bytes).unwrap();
}

/// The planes of a mapped video buffer without row padding, with their row lengths in bytes and
/// heights (the layout comes from the buffer's `GstVideoMeta` if any, else from `info`).
pub fn packed_planes(
    buf: &gst::BufferRef,
    info: &gst_video::VideoInfo,
) -> (Vec<Vec<u8>>, Vec<usize>, Vec<usize>) {
    use gst_video::prelude::*;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).unwrap();
    let finfo = info.format_info();
    let (mut planes, mut row_bytes, mut heights) = (Vec::new(), Vec::new(), Vec::new());
    for p in 0..frame.n_planes() {
        let c = (0..finfo.n_components())
            .find(|&c| finfo.plane()[c as usize] == p)
            .unwrap();
        let rb = finfo.scale_width(c as u8, info.width()) as usize
            * finfo.pixel_stride()[c as usize] as usize;
        let ph = finfo.scale_height(c as u8, info.height()) as usize;
        let stride = frame.plane_stride()[p as usize] as usize;
        let data = frame.plane_data(p).unwrap();
        planes.push(
            (0..ph)
                .flat_map(|y| data[y * stride..y * stride + rb].to_vec())
                .collect(),
        );
        row_bytes.push(rb);
        heights.push(ph);
    }
    (planes, row_bytes, heights)
}

/// A copy of `buf` (caps layout of `info`) relaid with a `GstVideoMeta`: `lead` junk bytes
/// before the first plane and `pad` after every row (see [`buffer_with_video_meta`]); metas other
/// than the video meta are copied over.
pub fn relaid_with_video_meta(
    buf: &gst::Buffer,
    info: &gst_video::VideoInfo,
    lead: usize,
    pad: usize,
) -> gst::Buffer {
    let (planes, row_bytes, heights) = packed_planes(buf, info);
    let mut out = buffer_with_video_meta(
        info.format(),
        (info.width(), info.height()),
        &planes,
        &row_bytes,
        &heights,
        lead,
        pad,
    );
    {
        let o = out.get_mut().unwrap();
        buf.copy_into(
            o,
            gst::BufferCopyFlags::META | gst::BufferCopyFlags::TIMESTAMPS,
            ..,
        )
        .unwrap();
    }
    out
}

/// Whether every byte of `buf` outside the rows described by its `GstVideoMeta` (lead and row
/// padding written by [`buffer_with_video_meta`]) is still the 0xA5 filler.
pub fn padding_untouched(buf: &gst::BufferRef, info: &gst_video::VideoInfo) -> bool {
    let meta = buf.meta::<gst_video::VideoMeta>().expect("a video meta");
    let (_, row_bytes, heights) = packed_planes(buf, info);
    let map = buf.map_readable().unwrap();
    let mut inside = vec![false; map.len()];
    for p in 0..row_bytes.len() {
        for y in 0..heights[p] {
            let start = meta.offset()[p] + y * meta.stride()[p] as usize;
            inside[start..start + row_bytes[p]].fill(true);
        }
    }
    map.iter().zip(&inside).all(|(&b, &i)| i || b == 0xA5)
}

/// `desc` (gst-launch syntax) as a pipeline.
pub fn pipeline(desc: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("{desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap()
}

/// What `collect` makes of every buffer reaching the sink pad of the element `name` of
/// `pipeline`, in order.
pub fn probe_buffers<T: Send + 'static>(
    pipeline: &gst::Pipeline,
    name: &str,
    collect: impl Fn(&gst::BufferRef) -> T + Send + Sync + 'static,
) -> std::sync::Arc<std::sync::Mutex<Vec<T>>> {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<T>>> = Default::default();
    let s = seen.clone();
    pipeline
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buf) = info.buffer() {
                s.lock().unwrap().push(collect(buf));
            }
            gst::PadProbeReturn::Ok
        });
    seen
}

/// Waits until `done` holds for what `seen` collected, handing every bus message to `on_message`
/// on the way; panics on an error message or after `timeout_s` seconds.
pub fn wait_for<T>(
    bus: &gst::Bus,
    seen: &std::sync::Mutex<Vec<T>>,
    timeout_s: u64,
    mut on_message: impl FnMut(&gst::Message),
    done: impl Fn(&[T]) -> bool,
) {
    let start = std::time::Instant::now();
    loop {
        while let Some(m) = bus.pop() {
            if let gst::MessageView::Error(e) = m.view() {
                panic!("error: {} {:?}", e.error(), e.debug());
            }
            on_message(&m);
        }
        let seen = seen.lock().unwrap();
        if done(&seen) {
            return;
        }
        assert!(
            start.elapsed().as_secs() < timeout_s,
            "the stream stopped after {} buffers",
            seen.len()
        );
        drop(seen);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A flushing, accurate seek of `pipeline` to `seconds`.
pub fn seek(pipeline: &gst::Pipeline, seconds: u64) {
    pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::ClockTime::from_seconds(seconds),
        )
        .unwrap();
}

/// Lets exactly `frames` buffers leave the element `name` of `pipeline`, then sends EOS
/// downstream and drops every later buffer.
///
/// Why not `identity eos-after=N`: on GStreamer 1.22 it passes N-1 buffers and then, once its
/// counter has gone below zero, every buffer upstream still pushes. After `decodebin` on the
/// opencv-doc AVIs that is often one more, sometimes the whole file (measured: 7, 8 or 795
/// buffers for eos-after=8 on vtest.avi), so an exact frame count needs a limit that stays shut.
pub fn limit_frames(pipeline: &gst::Pipeline, name: &str, frames: usize) {
    let pad = pipeline
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .static_pad("src")
        .unwrap();
    let passed = std::sync::atomic::AtomicUsize::new(0);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        let n = passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < frames {
            return gst::PadProbeReturn::Ok;
        }
        if n == frames {
            pad.push_event(gst::event::Eos::new());
        }
        gst::PadProbeReturn::Drop
    });
}

/// Runs `desc` to EOS (panicking on an error message or after `timeout_s` seconds) and returns
/// what `collect` made of the buffers at the sink pad of the element `probe_element`.
pub fn run_to_eos<T: Send + 'static>(
    desc: &str,
    probe_element: &str,
    timeout_s: u64,
    collect: impl Fn(&gst::BufferRef) -> T + Send + Sync + 'static,
) -> Vec<T> {
    run_pipeline_to_eos(&pipeline(desc), probe_element, timeout_s, collect)
}

/// [`run_to_eos`] for a pipeline already made (to add a [`limit_frames`] first, say).
pub fn run_pipeline_to_eos<T: Send + 'static>(
    pipeline: &gst::Pipeline,
    probe_element: &str,
    timeout_s: u64,
    collect: impl Fn(&gst::BufferRef) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let seen = probe_buffers(pipeline, probe_element, collect);
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(timeout_s),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("{:?}: no EOS within {timeout_s} s", pipeline.name()));
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{}: {} {:?}", pipeline.name(), e.error(), e.debug());
    }
    std::mem::take(&mut *seen.lock().unwrap())
}

/// Panics unless every property the element `el` itself defines has a real blurb.
pub fn assert_blurbs(el: &gst::Element) {
    for pspec in el.list_properties() {
        if pspec.owner_type() == el.type_() {
            assert!(
                pspec.blurb().is_some_and(|b| b.len() > 10),
                "{} has no blurb",
                pspec.name()
            );
        }
    }
}

/// The shipped model (or `$SUPERPOINT_MODEL`), which must be a trained one.
pub fn trained_model() -> PathBuf {
    let path = std::env::var_os("SUPERPOINT_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../models/superpoint.onnx"
            ))
        });
    let info = superpoint::onnx::read_model_info(&path)
        .unwrap_or_else(|e| panic!("the shipped model {}: {e}", path.display()));
    assert!(info.trained, "{} is not a trained model", path.display());
    path
}
