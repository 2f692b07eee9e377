//! `superpointpublish` and `superpointdetect json-location`: records against the metas and the
//! JSON Schema (`schemas/frame-record-v1.json`, checked with Debian's python3-jsonschema), write
//! failures (`/dev/full`), and MQTT against a real broker: Debian's `/usr/sbin/mosquitto`
//! (scripts/setup.sh installs it), started by each test on a free 127.0.0.1 port and killed by it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstsuperpoint::meta::{KeypointsData, SuperPointKeypointsMeta, SuperPointMatchesMeta};
use superpoint::Keypoint;
use superpoint::json::FrameRecord;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const PYTHON: &str = "/usr/bin/python3";

fn schema() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/frame-record-v1.json"
    ))
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sp-publish-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Validates every line of `jsonl` against the schema with python3-jsonschema.
fn assert_schema_valid(jsonl: &Path) {
    let script = "import json,sys,jsonschema\n\
        v=jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n\
        n=0\n\
        for line in open(sys.argv[2]):\n    v.validate(json.loads(line)); n+=1\n\
        print(n)\n";
    let out = Command::new(PYTHON)
        .args(["-c", script])
        .arg(schema())
        .arg(jsonl)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}"));
    assert!(
        out.status.success(),
        "{} does not follow {} (python3-jsonschema, installed by scripts/setup.sh): {}",
        jsonl.display(),
        schema().display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_records(path: &Path) -> Vec<FrameRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn records_follow_the_metas_and_the_schema() {
    let dir = temp_dir("records");
    let path = dir.join("tracks.jsonl");
    let p = common::pipeline(&format!(
        "videotestsrc num-buffers=12 pattern=ball ! video/x-raw,format=GRAY8,width=160,height=120 \
         ! superpointdetect model={} ! superpointmatch min-inliers=4 \
         ! superpointpublish location={} descriptors=true ! fakesink name=sink",
        common::trained_model().display(),
        path.display()
    ));
    let seen = common::run_pipeline_to_eos(&p, "sink", 120, |buf| {
        let k = buf
            .meta::<SuperPointKeypointsMeta>()
            .unwrap()
            .data()
            .clone();
        let m = buf.meta::<SuperPointMatchesMeta>().unwrap().data().clone();
        (buf.pts().map(|t| t.nseconds()), k, m)
    });
    let records = read_records(&path);
    assert_eq!(records.len(), 12);
    let mut tracked = 0;
    for (i, (r, (pts, k, m))) in records.iter().zip(&seen).enumerate() {
        assert_eq!((r.version, r.frame, r.pts), (1, i as u64, *pts));
        assert_eq!((r.width, r.height, &r.model), (160, 120, &k.model_id));
        let kp: Vec<[f32; 3]> = k.keypoints.iter().map(|k| [k.x, k.y, k.score]).collect();
        assert_eq!(r.keypoints, kp);
        assert_eq!(r.decode_descriptors().unwrap().unwrap(), k.descriptors);
        let rm = r.matches.as_ref().unwrap();
        assert_eq!(
            (rm.mode.as_str(), rm.status.as_str()),
            ("previous", m.status.as_str())
        );
        assert_eq!(rm.num_inliers, m.num_inliers);
        // serde_json reads floats to within an ulp.
        let close = |a: Option<[f64; 9]>, b: Option<[f64; 9]>| match (a, b) {
            (Some(a), Some(b)) => a
                .iter()
                .zip(&b)
                .all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs().max(1.0)),
            (a, b) => a.is_none() && b.is_none(),
        };
        assert!(close(rm.homography, m.homography.map(|h| h.0)), "{rm:?}");
        assert!(
            close(rm.to_reference, m.to_reference.map(|h| h.0)),
            "{rm:?}"
        );
        let pairs: Vec<(u32, u32, f32, bool)> = m
            .pairs
            .iter()
            .zip(&m.inliers)
            .map(|(p, &i)| (p.matched, p.current, p.distance, i))
            .collect();
        assert_eq!(rm.pairs, pairs);
        let tracks: Vec<(u64, u32)> = m.tracks.iter().map(|t| (t.id, t.age)).collect();
        assert_eq!(rm.tracks, tracks);
        assert_eq!(rm.tracks.len(), r.keypoints.len());
        tracked += rm.tracks.iter().filter(|t| t.1 > 0).count();
    }
    // The ball moves smoothly: tracks continue from frame to frame.
    assert!(tracked > 0, "no keypoint continued a track");
    assert_schema_valid(&path);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `p` until its first error; returns the errors its element `name` posted (all of them,
/// after the pipeline reached NULL).
fn errors_until_null(p: &gst::Pipeline, name: &str) -> Vec<String> {
    let bus = p.bus().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let first = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("neither error nor EOS within 60 s");
    assert_eq!(
        p.set_state(gst::State::Null),
        Ok(gst::StateChangeSuccess::Success),
        "the pipeline must reach NULL after a write error"
    );
    let mut errors = Vec::new();
    for m in std::iter::once(first).chain(std::iter::from_fn(|| bus.pop())) {
        if let gst::MessageView::Error(e) = m.view()
            && m.src().is_some_and(|s| s.name() == name)
        {
            errors.push(e.error().to_string());
        }
    }
    errors
}

#[test]
fn write_failures_give_one_error_a_clean_shutdown_and_a_restartable_element() {
    let dir = temp_dir("full");
    for (element, property, tail) in [
        ("superpointdetect", "json-location", "fakesink"),
        ("superpointpublish", "location", "fakesink"),
    ] {
        let publish = if element == "superpointpublish" {
            "superpointpublish name=w location=/dev/full ! "
        } else {
            ""
        };
        let detect_props = if element == "superpointdetect" {
            "name=w json-location=/dev/full"
        } else {
            ""
        };
        let p = common::pipeline(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,format=GRAY8,width=64,height=48 \
             ! superpointdetect model={} {detect_props} ! {publish}{tail}",
            common::random_model().display()
        ));
        let errors = errors_until_null(&p, "w");
        assert_eq!(errors.len(), 1, "{element}: {errors:?}");
        assert!(
            errors[0].contains("cannot write /dev/full: No space left on device")
                && errors[0].contains("check the disk space"),
            "{element}: {}",
            errors[0]
        );
        // The same element starts again and writes every frame.
        let file = dir.join(format!("{element}.jsonl"));
        p.by_name("w")
            .unwrap()
            .set_property(property, file.to_str().unwrap());
        assert!(errors_until_null(&p, "w").is_empty());
        let records = read_records(&file);
        assert_eq!(
            records.iter().map(|r| r.frame).collect::<Vec<_>>(),
            [0, 1, 2],
            "{element}"
        );
        assert_schema_valid(&file);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A mosquitto broker on a free 127.0.0.1 port with its own configuration (persistence in its
/// folder, so a restarted broker keeps the subscriber's session); killed on drop.
struct Broker {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(tag: &str) -> Broker {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} missing: install Debian's mosquitto (scripts/setup.sh)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut b = Broker {
            dir: temp_dir(&format!("broker-{tag}")),
            port,
            child: None,
        };
        std::fs::write(
            b.dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
                b.dir.display()
            ),
        )
        .unwrap();
        b.restart();
        b
    }

    fn restart(&mut self) {
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(std::fs::File::create(self.dir.join("log.txt")).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {MOSQUITTO}: {e}"));
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen on {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the broker with SIGTERM (it saves its sessions) and waits for it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An MQTT subscriber (QoS 1, persistent session) collecting the records of `topic`.
struct Subscriber {
    records: Arc<Mutex<Vec<FrameRecord>>>,
    subscribed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    fn start(port: u16, topic: &str) -> Subscriber {
        let mut options = rumqttc::MqttOptions::new(format!("sub-{topic}"), "127.0.0.1", port);
        options.set_clean_session(false);
        options.set_max_packet_size(1 << 24, 1 << 16);
        let (client, mut connection) = rumqttc::Client::new(options, 10);
        let records: Arc<Mutex<Vec<FrameRecord>>> = Default::default();
        let subscribed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st, topic) = (
            records.clone(),
            subscribed.clone(),
            stop.clone(),
            topic.to_owned(),
        );
        let thread = std::thread::spawn(move || {
            use rumqttc::{Event, Packet};
            while !st.load(Ordering::SeqCst) {
                match connection.recv_timeout(Duration::from_millis(50)) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) if !ack.session_present => {
                        client
                            .try_subscribe(topic.as_str(), rumqttc::QoS::AtLeastOnce)
                            .unwrap();
                    }
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => s.store(true, Ordering::SeqCst),
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => r
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&p.payload).unwrap()),
                    Ok(Err(_)) => std::thread::sleep(Duration::from_millis(50)),
                    _ => {}
                }
            }
        });
        let sub = Subscriber {
            records,
            subscribed,
            stop,
            thread: Some(thread),
        };
        sub.wait(|| sub.subscribed.load(Ordering::SeqCst), "the subscription");
        sub
    }

    /// Waits (at most 30 s) until `done`.
    fn wait(&self, done: impl Fn() -> bool, what: &str) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no {what} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn frames(&self) -> Vec<u64> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.frame)
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `appsrc ! superpointpublish props ! fakesink`, playing, and its bus.
fn appsrc_pipeline(props: &str) -> (gst::Pipeline, gst_app::AppSrc, gst::Bus) {
    let p = common::pipeline(&format!(
        "appsrc name=src format=time caps=application/x-superpoint-test ! superpointpublish name=pub {props} ! fakesink"
    ));
    let src = p
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let bus = p.bus().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    (p, src, bus)
}

/// A buffer of frame `i` with a keypoints meta of `i + 1` keypoints.
fn push_frame(src: &gst_app::AppSrc, i: u64) {
    let mut buf = gst::Buffer::with_size(4).unwrap();
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(40 * i));
        SuperPointKeypointsMeta::add(
            b,
            Arc::new(KeypointsData {
                width: 64,
                height: 48,
                keypoints: (0..=i)
                    .map(|k| Keypoint {
                        x: k as f32,
                        y: 2.0,
                        score: 0.5,
                    })
                    .collect(),
                descriptors: Vec::new(),
                model_id: "synthetic".into(),
                scales: Vec::new(),
            }),
        );
    }
    src.push_buffer(buf).unwrap();
}

/// Ends the stream, waits for EOS, goes to NULL; returns the element's warnings and `dropped`.
fn finish(p: &gst::Pipeline, src: &gst_app::AppSrc, bus: &gst::Bus) -> (Vec<String>, u64) {
    src.end_of_stream().unwrap();
    let mut warnings = Vec::new();
    let start = Instant::now();
    loop {
        let m = bus
            .timed_pop(gst::ClockTime::from_seconds(1))
            .map(|m| m.view().into_owned_message_view());
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no EOS within 30 s"
        );
        match m {
            Some(m) => match m {
                OwnedView::Warning(text) => warnings.push(text),
                OwnedView::Error(text) => panic!("error: {text}"),
                OwnedView::Eos => break,
                OwnedView::Other => {}
            },
            None => continue,
        }
    }
    p.set_state(gst::State::Null).unwrap();
    let dropped = p.by_name("pub").unwrap().property::<u64>("dropped");
    (warnings, dropped)
}

enum OwnedView {
    Warning(String),
    Error(String),
    Eos,
    Other,
}

trait IntoOwned {
    fn into_owned_message_view(self) -> OwnedView;
}

impl IntoOwned for gst::MessageView<'_> {
    fn into_owned_message_view(self) -> OwnedView {
        match self {
            gst::MessageView::Warning(w) => OwnedView::Warning(w.error().to_string()),
            gst::MessageView::Error(e) => OwnedView::Error(e.error().to_string()),
            gst::MessageView::Eos(_) => OwnedView::Eos,
            _ => OwnedView::Other,
        }
    }
}

/// Pops bus messages until a warning arrives (at most 30 s); returns its text.
fn wait_warning(bus: &gst::Bus) -> String {
    let m = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Warning, gst::MessageType::Error],
        )
        .expect("no warning within 30 s");
    match m.view().into_owned_message_view() {
        OwnedView::Warning(text) => text,
        _ => panic!("error instead of a warning"),
    }
}

#[test]
fn qos1_delivers_every_frame_of_a_detect_match_pipeline() {
    common::init();
    let broker = Broker::start("qos1");
    let sub = Subscriber::start(broker.port, "cam1");
    let frames = 20;
    // 192x144 with random weights: about 1000 keypoints, records over 10 kB (rumqttc's default
    // packet limit, which the element raises).
    let p = common::pipeline(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,format=GRAY8,width=192,height=144 \
         ! superpointdetect model={} ! superpointmatch \
         ! superpointpublish name=pub broker={} topic=cam1 qos=1 ! fakesink name=sink",
        common::random_model().display(),
        broker.url()
    ));
    let seen = common::run_pipeline_to_eos(&p, "sink", 120, |buf| {
        buf.meta::<SuperPointKeypointsMeta>()
            .unwrap()
            .data()
            .keypoints
            .len()
    });
    assert_eq!(p.by_name("pub").unwrap().property::<u64>("dropped"), 0);
    // Stopping waited for the broker's acknowledgements: every record is at the broker.
    sub.wait(|| sub.frames().len() >= frames, "record of every frame");
    assert_eq!(sub.frames(), (0..frames as u64).collect::<Vec<_>>());
    // One record per frame (a redelivered duplicate is the same record).
    let by_frame: std::collections::BTreeMap<u64, FrameRecord> = sub
        .records
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.frame, r.clone()))
        .collect();
    let records: Vec<&FrameRecord> = by_frame.values().collect();
    let bytes = serde_json::to_vec(&records[0]).unwrap().len();
    assert!(
        bytes > 10240,
        "records of {bytes} bytes do not test large packets"
    );
    for (r, n) in records.iter().zip(&seen) {
        assert_eq!(r.keypoints.len(), *n);
        let m = r.matches.as_ref().unwrap();
        assert_eq!(m.mode, "previous");
        assert_eq!(m.tracks.len(), *n);
    }
}

#[test]
fn a_broker_killed_mid_stream_warns_once_and_the_stream_goes_on_after_reconnection() {
    common::init();
    let mut broker = Broker::start("restart");
    let sub = Subscriber::start(broker.port, "cam2");
    let (p, src, bus) = appsrc_pipeline(&format!("broker={} topic=cam2 qos=1", broker.url()));
    for i in 0..5 {
        push_frame(&src, i);
    }
    sub.wait(|| sub.frames().len() == 5, "first 5 records");
    broker.kill();
    let warning = wait_warning(&bus);
    assert!(
        warning.contains(&format!(
            "MQTT broker 127.0.0.1:{} unreachable or lost",
            broker.port
        )) && warning.contains("retrying with backoff"),
        "{warning}"
    );
    // The streaming thread does not wait for the broker: these frames are queued.
    for i in 5..10 {
        push_frame(&src, i);
    }
    broker.restart();
    sub.wait(|| sub.frames().len() >= 10, "records after the restart");
    let (warnings, dropped) = finish(&p, &src, &bus);
    assert!(warnings.is_empty(), "more warnings: {warnings:?}");
    assert_eq!(dropped, 0);
    assert_eq!(sub.frames(), (0..10).collect::<Vec<_>>());
}

#[test]
fn an_absent_broker_warns_once_and_counts_every_dropped_record() {
    common::init();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (p, src, bus) = appsrc_pipeline(&format!("broker=mqtt://127.0.0.1:{port} queue-size=3"));
    let warning = wait_warning(&bus);
    assert!(
        warning.contains(&format!("MQTT broker 127.0.0.1:{port} unreachable or lost"))
            && warning.contains("Connection refused"),
        "{warning}"
    );
    for i in 0..10 {
        push_frame(&src, i);
    }
    // 7 overflow the queue of 3; the 3 left are dropped when stopping.
    let (warnings, dropped) = finish(&p, &src, &bus);
    assert!(warnings.is_empty(), "more warnings: {warnings:?}");
    assert_eq!(dropped, 10);
}

#[test]
fn a_publisher_needs_a_destination_and_a_valid_broker_url() {
    let e = common::start_error("superpointpublish", &[]);
    assert!(
        e.contains("set location=FILE.jsonl and/or broker=mqtt://HOST:PORT"),
        "{e}"
    );
    let e = common::start_error("superpointpublish", &[("broker", "tcp://127.0.0.1:1883")]);
    assert!(e.contains("must start with mqtt://"), "{e}");
    let e = common::start_error(
        "superpointpublish",
        &[("location", "/nonexistent-dir/a.jsonl")],
    );
    assert!(e.contains("cannot create /nonexistent-dir/a.jsonl"), "{e}");
    common::init();
    let el = gst::ElementFactory::make("superpointpublish")
        .build()
        .unwrap();
    common::assert_blurbs(&el);
}
