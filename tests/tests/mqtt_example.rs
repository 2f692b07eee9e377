//! The README's MQTT example end to end: `gst-launch-1.0 … ! superpointdetect ! superpointmatch !
//! superpointpublish broker=mqtt://127.0.0.1:PORT topic=cam1 ! fakesink` into Debian's mosquitto
//! (started here on a free 127.0.0.1 port and killed here), read by `examples/mqtt_subscriber.py`
//! (Debian's python3-paho-mqtt): one line per frame, with the status and the tracks.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const PYTHON: &str = "/usr/bin/python3";

/// Kills the child on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_subscriber_receives_one_record_per_frame_with_tracks() {
    assert!(
        Path::new(MOSQUITTO).exists(),
        "{MOSQUITTO} missing: install mosquitto (scripts/setup.sh)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _broker = Killed(
        Command::new(MOSQUITTO)
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "mosquitto did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let frames = 6;
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let subscriber = Command::new(PYTHON)
        .arg(root.join("examples/mqtt_subscriber.py"))
        .args(["--port", &port.to_string(), "--topic", "cam1"])
        .args(["--count", &frames.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}"));
    let mut subscriber = Killed(subscriber);
    // Publish only once the subscription is in place (the example says so on stderr).
    let stderr = subscriber.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the subscriber did not subscribe within 30 s");
    assert_eq!(line, format!("subscribed to cam1 on 127.0.0.1:{port}"));
    let model = integration_tests::random_model("mqtt-example");
    let out = integration_tests::gst_tool(
        "gst-launch-1.0",
        &[
            "-q",
            "videotestsrc",
            &format!("num-buffers={frames}"),
            "pattern=ball",
            "!",
            "video/x-raw,format=GRAY8,width=192,height=144",
            "!",
            "superpointdetect",
            &format!("model={}", model.display()),
            "!",
            "superpointmatch",
            "!",
            "superpointpublish",
            &format!("broker=mqtt://127.0.0.1:{port}"),
            "topic=cam1",
            "qos=1",
            "!",
            "fakesink",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    while subscriber.0.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = subscriber.0.kill();
            let mut stdout = String::new();
            std::io::Read::read_to_string(subscriber.0.stdout.as_mut().unwrap(), &mut stdout)
                .unwrap();
            let rest: Vec<String> = rx.try_iter().collect();
            panic!("the subscriber did not get {frames} records within 30 s: {stdout} {rest:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(subscriber.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), frames, "{stdout}");
    assert!(lines[0].starts_with("frame 0: reference, "), "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("frame {i}: ")), "{stdout}");
        assert!(
            line.contains(" tracks continued, ") && line.contains(" new, longest age "),
            "{line}"
        );
    }
}
