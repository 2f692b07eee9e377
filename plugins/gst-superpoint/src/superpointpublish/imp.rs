use std::fs::File;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use superpoint::json::FrameRecord;
use superpoint::jsonl::JsonLinesWriter;

use super::mqtt::{self, MqttConfig, MqttPublisher, Notice};
use crate::meta::{SuperPointKeypointsMeta, SuperPointMatchesMeta};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "superpointpublish",
        gst::DebugColorFlags::empty(),
        Some("SuperPoint results publisher"),
    )
});

const DEFAULT_TOPIC: &str = "superpoint";
const DEFAULT_QOS: u32 = 0;
const DEFAULT_QUEUE_SIZE: u32 = 100;

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    broker: Option<String>,
    topic: String,
    qos: u32,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    descriptors: bool,
    queue_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: None,
            broker: None,
            topic: DEFAULT_TOPIC.into(),
            qos: DEFAULT_QOS,
            client_id: None,
            username: None,
            password: None,
            descriptors: false,
            queue_size: DEFAULT_QUEUE_SIZE,
        }
    }
}

struct State {
    file: Option<JsonLinesWriter<File>>,
    mqtt: Option<MqttPublisher>,
    descriptors: bool,
    frame: u64,
    warned_no_meta: bool,
}

#[derive(Default)]
pub struct SuperPointPublish {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// `dropped` of the last run, kept after stop.
    dropped: Mutex<u64>,
}

#[glib::object_subclass]
impl ObjectSubclass for SuperPointPublish {
    const NAME: &'static str = "GstSuperPointPublish";
    type Type = super::SuperPointPublish;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for SuperPointPublish {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let ready = glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_READY;
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("JSON Lines file")
                    .blurb("Write one JSON object per frame (schema version 1: frame, pts, width, height, model, keypoints, descriptors, matches with status, homographies and [track id, age] per keypoint) to this JSON Lines file; each line whole or not at all, flushed per frame. A write error stops the stream with one error. Unset = no file")
                    .flags(ready)
                    .build(),
                glib::ParamSpecString::builder("broker")
                    .nick("MQTT broker")
                    .blurb("Publish one JSON record per frame to this MQTT broker, mqtt://host[:port] (port 1883 by default). A broker absent at start or lost later gives one warning per loss and is retried with backoff (0.1 s doubling to 5 s); the streaming thread never waits on the network. Unset = no MQTT")
                    .flags(ready)
                    .build(),
                glib::ParamSpecString::builder("topic")
                    .nick("MQTT topic")
                    .blurb("MQTT topic of the records")
                    .default_value(Some(DEFAULT_TOPIC))
                    .flags(ready)
                    .build(),
                glib::ParamSpecUInt::builder("qos")
                    .nick("MQTT QoS")
                    .blurb("MQTT quality of service: 0 (at most once) or 1 (at least once: every record the broker acknowledged was delivered to it)")
                    .minimum(0)
                    .maximum(1)
                    .default_value(DEFAULT_QOS)
                    .flags(ready)
                    .build(),
                glib::ParamSpecString::builder("client-id")
                    .nick("MQTT client id")
                    .blurb("MQTT client identifier (unique per broker); unset = superpointpublish-PID-ELEMENTNAME")
                    .flags(ready)
                    .build(),
                glib::ParamSpecString::builder("username")
                    .nick("MQTT user name")
                    .blurb("MQTT user name; unset = anonymous")
                    .flags(ready)
                    .build(),
                glib::ParamSpecString::builder("password")
                    .nick("MQTT password")
                    .blurb("MQTT password (with username)")
                    .flags(ready)
                    .build(),
                glib::ParamSpecBoolean::builder("descriptors")
                    .nick("Descriptors")
                    .blurb("Add each frame's descriptors (keypoints x 256 float32, little-endian, row-major) in base64 to the records; false = omitted")
                    .default_value(false)
                    .flags(ready)
                    .build(),
                glib::ParamSpecUInt::builder("queue-size")
                    .nick("MQTT queue size")
                    .blurb("Records that wait for the broker at most (while it is slow or away); when full the oldest is dropped and counted in dropped")
                    .minimum(1)
                    .maximum(1_000_000)
                    .default_value(DEFAULT_QUEUE_SIZE)
                    .flags(ready)
                    .build(),
                glib::ParamSpecUInt64::builder("dropped")
                    .nick("Dropped records")
                    .blurb("MQTT records dropped since start: queue full, lost with a broken connection before the broker confirmed them, or left when stopping")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location = value.get().expect("type checked"),
            "broker" => s.broker = value.get().expect("type checked"),
            "topic" => s.topic = value.get().expect("type checked"),
            "qos" => s.qos = value.get().expect("type checked"),
            "client-id" => s.client_id = value.get().expect("type checked"),
            "username" => s.username = value.get().expect("type checked"),
            "password" => s.password = value.get().expect("type checked"),
            "descriptors" => s.descriptors = value.get().expect("type checked"),
            "queue-size" => s.queue_size = value.get().expect("type checked"),
            _ => unreachable!("unknown property {}", pspec.name()),
        }
        gst::debug!(CAT, imp = self, "set {}", pspec.name());
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location.to_value(),
            "broker" => s.broker.to_value(),
            "topic" => s.topic.to_value(),
            "qos" => s.qos.to_value(),
            "client-id" => s.client_id.to_value(),
            "username" => s.username.to_value(),
            "password" => s.password.to_value(),
            "descriptors" => s.descriptors.to_value(),
            "queue-size" => s.queue_size.to_value(),
            "dropped" => match self.state.lock().unwrap().as_ref() {
                Some(State { mqtt: Some(m), .. }) => m.dropped().to_value(),
                _ => self.dropped.lock().unwrap().to_value(),
            },
            _ => unreachable!("unknown property {}", pspec.name()),
        }
    }
}

impl GstObjectImpl for SuperPointPublish {}

impl ElementImpl for SuperPointPublish {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SuperPoint publisher",
                "Sink/Metadata",
                "Writes the SuperPoint metas of each frame (keypoints, matches, homographies, track ids) as one JSON record to a JSON Lines file and/or an MQTT broker; buffers pass through",
                "gst-superpoint developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_any();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for SuperPointPublish {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        if s.location.is_none() && s.broker.is_none() {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                ("superpointpublish has nowhere to publish: set location=FILE.jsonl and/or broker=mqtt://HOST:PORT")
            ));
        }
        let file = match &s.location {
            Some(path) => Some(JsonLinesWriter::create(path).map_err(|e| {
                gst::error_msg!(gst::ResourceError::OpenWrite, ("location: {}", e))
            })?),
            None => None,
        };
        let mqtt = match &s.broker {
            Some(url) => Some(self.start_mqtt(url, &s)?),
            None => None,
        };
        *self.dropped.lock().unwrap() = 0;
        *self.state.lock().unwrap() = Some(State {
            file,
            mqtt,
            descriptors: s.descriptors,
            frame: 0,
            warned_no_meta: false,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Lines are written whole and flushed per frame: nothing is left to fail on here.
        let state = self.state.lock().unwrap().take();
        if let Some(mqtt) = state.and_then(|s| s.mqtt) {
            let dropped = mqtt.stop();
            *self.dropped.lock().unwrap() = dropped;
            if dropped > 0 {
                gst::info!(CAT, imp = self, "{dropped} MQTT records dropped");
            }
        }
        Ok(())
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let Some(keypoints) = buf.meta::<SuperPointKeypointsMeta>() else {
            if !state.warned_no_meta {
                state.warned_no_meta = true;
                drop(guard);
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("no SuperPointKeypointsMeta on the buffers: nothing to publish; put superpointdetect (and superpointmatch) before superpointpublish")
                );
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        let matches = buf.meta::<SuperPointMatchesMeta>();
        let record = FrameRecord::new(
            state.frame,
            buf.pts().map(|t| t.nseconds()),
            keypoints.data(),
            matches.as_ref().map(|m| &**m.data()),
            state.descriptors,
        );
        state.frame += 1;
        if let Some(mqtt) = &state.mqtt {
            match serde_json::to_vec(&record) {
                Ok(bytes) => mqtt.publish(bytes),
                Err(e) => gst::warning!(CAT, imp = self, "cannot serialise a record: {e}"),
            }
        }
        if let Some(file) = state.file.as_mut()
            && let Err(e) = file.write(&record)
        {
            drop(guard);
            gst::element_imp_error!(self, gst::ResourceError::Write, ("location: {}", e));
            return Err(gst::FlowError::Error);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

impl SuperPointPublish {
    fn start_mqtt(&self, url: &str, s: &Settings) -> Result<MqttPublisher, gst::ErrorMessage> {
        let (host, port) = mqtt::parse_broker(url)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        let config = MqttConfig {
            host,
            port,
            topic: s.topic.clone(),
            qos: if s.qos == 0 {
                rumqttc::QoS::AtMostOnce
            } else {
                rumqttc::QoS::AtLeastOnce
            },
            client_id: s.client_id.clone().unwrap_or_else(|| {
                format!(
                    "superpointpublish-{}-{}",
                    std::process::id(),
                    self.obj().name()
                )
            }),
            credentials: s
                .username
                .clone()
                .map(|u| (u, s.password.clone().unwrap_or_default())),
            queue_size: s.queue_size as usize,
        };
        let element = self.obj().downgrade();
        MqttPublisher::start(config, move |notice| {
            let Some(element) = element.upgrade() else {
                return;
            };
            match notice {
                Notice::Lost(why) => gst::element_warning!(
                    element,
                    gst::ResourceError::Write,
                    ("{}; retrying with backoff, records wait in the queue (queue-size) and the overflow is counted in dropped", why)
                ),
                Notice::Reconnected => {
                    gst::info!(CAT, obj = element, "reconnected to the MQTT broker");
                    let _ = element.post_message(
                        gst::message::Element::builder(
                            gst::Structure::builder("superpoint-publish")
                                .field("connected", true)
                                .build(),
                        )
                        .src(&element)
                        .build(),
                    );
                }
            }
        })
        .map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Failed,
                ("cannot start the MQTT thread: {}", e)
            )
        })
    }
}
