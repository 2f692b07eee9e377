//! `gst-inspect-1.0` validation of the built plugin: listed, documented properties with their
//! defaults, no warnings.

use integration_tests::gst_tool;

#[test]
fn plugin_lists_its_elements_without_warnings() {
    let out = gst_tool("gst-inspect-1.0", &["superpoint"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gst-inspect-1.0 superpoint failed: {stderr}"
    );
    for element in [
        "superpointdetect",
        "superpointmatch",
        "homographicwarp",
        "superpointoverlay",
        "superpointpublish",
    ] {
        assert!(
            stdout.contains(&format!("{element}: ")),
            "{element} not listed:\n{stdout}"
        );
    }
    assert!(
        !stderr.contains("WARNING") && !stderr.contains("CRITICAL"),
        "warnings: {stderr}"
    );
}

#[test]
fn every_element_inspects_cleanly_with_documented_properties() {
    for element in [
        "superpointdetect",
        "superpointmatch",
        "homographicwarp",
        "superpointoverlay",
        "superpointpublish",
    ] {
        let out = gst_tool("gst-inspect-1.0", &[element]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "gst-inspect-1.0 {element}: {stderr}");
        assert!(
            stderr.trim().is_empty(),
            "gst-inspect-1.0 {element} printed: {stderr}"
        );
        let props = stdout
            .split("Element Properties:")
            .nth(1)
            .expect("a property section");
        let mut own = 0;
        for line in props.lines() {
            // Property lines: two spaces, the name, padding, ':', the blurb.
            let Some((name, blurb)) = line
                .strip_prefix("  ")
                .filter(|l| !l.starts_with(' '))
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() || name.contains(' ') || ["name", "parent", "qos"].contains(&name) {
                continue;
            }
            own += 1;
            assert!(
                blurb.trim().len() > 15,
                "{element}.{name} has no real blurb: {line}"
            );
        }
        assert!(
            own >= 5,
            "{element}: only {own} own properties found:\n{props}"
        );
    }
}

#[test]
fn superpointdetect_documents_every_property() {
    let out = gst_tool("gst-inspect-1.0", &["superpointdetect"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("WARNING") && !stderr.contains("CRITICAL"),
        "warnings: {stderr}"
    );
    let expected = [
        ("model", "superpoint.onnx"),
        ("provider", "\"cpu\""),
        ("device-id", "Default: 0"),
        ("provider-fallback", "Default: true"),
        ("threads", "Default: 0"),
        ("threshold", "0.015"),
        ("nms-radius", "Default: 4"),
        ("border", "Default: 4"),
        ("max-keypoints", "Default: 1000"),
        ("inference-width", "Default: 0"),
        ("inference-height", "Default: 0"),
        ("descriptors", "Default: true"),
        ("post-messages", "Default: false"),
        ("json-location", "Default: null"),
        ("batch-group", "Default: null"),
        ("batch-size", "Default: 4"),
        ("max-latency", "Default: 10000"),
    ];
    for (name, default) in expected {
        let start = stdout
            .find(&format!("  {name} "))
            .unwrap_or_else(|| panic!("property {name} not listed:\n{stdout}"));
        let block: String = stdout[start..]
            .lines()
            .take(4)
            .collect::<Vec<_>>()
            .join("\n");
        let blurb = block
            .lines()
            .next()
            .unwrap()
            .split_once(':')
            .map(|x| x.1.trim())
            .unwrap_or("");
        assert!(
            blurb.len() > 15,
            "property {name} has no real blurb: {block}"
        );
        assert!(
            block.contains(default),
            "property {name}: expected default {default}:\n{block}"
        );
    }
    for caps in [
        "GRAY8",
        "NV12",
        "I420",
        "RGB",
        "BGRx",
        "RGBA",
        "[ 1, 2147483647 ]",
    ] {
        assert!(stdout.contains(caps), "caps lack {caps}");
    }
}
