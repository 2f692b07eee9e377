//! Feature sources: the SuperPoint model, or JSON files of any detector.

use std::path::PathBuf;
use std::time::Instant;

use super::dataset::Sequence;
use crate::Detector;
use crate::Error;
use crate::detection::Detections;
use crate::features::Features;
use crate::image_io::OwnedImage;
use crate::json::DetectionFile;
use crate::views::{ReferenceView, ViewParams, describe_views};

/// Where the features of each image come from.
pub trait FeatureSource {
    /// Name of the method for reports.
    fn name(&self) -> String;
    /// Features of image `k` (1-based) of `seq`, and the detection time in milliseconds when it
    /// was measured.
    fn features(&mut self, seq: &Sequence, k: usize) -> Result<(Features, Option<f64>), Error>;
    /// Features of the `params` views of image 1 of `seq`, keypoints in image 1's pixels
    /// ([`crate::views::describe_views`]). Sources that cannot render views say so.
    fn reference_views(
        &mut self,
        seq: &Sequence,
        params: &ViewParams,
    ) -> Result<Vec<ReferenceView>, Error> {
        let _ = (seq, params);
        Err(Error::Config(format!(
            "{} cannot describe views of a reference image: --reference-views needs the model",
            self.name()
        )))
    }
}

fn missing_image(seq: &Sequence, k: usize) -> Error {
    Error::Input(format!("{}: has no image {k}", seq.name))
}

/// Runs a SuperPoint [`Detector`] on the images (the time of `detect` is measured).
pub struct DetectorSource {
    detector: Detector,
    name: String,
    detections: Detections,
}

impl DetectorSource {
    /// Wraps a detector; `name` labels the report.
    pub fn new(detector: Detector, name: impl Into<String>) -> Self {
        DetectorSource {
            detector,
            name: name.into(),
            detections: Detections::default(),
        }
    }
}

impl FeatureSource for DetectorSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn features(&mut self, seq: &Sequence, k: usize) -> Result<(Features, Option<f64>), Error> {
        let path = seq.image(k).ok_or_else(|| missing_image(seq, k))?;
        let img = OwnedImage::load(path)?;
        let frame = img
            .frame()
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        let t0 = Instant::now();
        self.detector
            .detect(&frame, &mut self.detections)
            .map_err(|e| Error::Runtime(format!("{}: {e}", path.display())))?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok((Features::from_detections(&self.detections)?, Some(ms)))
    }

    fn reference_views(
        &mut self,
        seq: &Sequence,
        params: &ViewParams,
    ) -> Result<Vec<ReferenceView>, Error> {
        let path = &seq.images[0];
        let img = OwnedImage::load(path)?;
        let border = self.detector.config().post.border;
        describe_views(&mut self.detector, &img, params, border)
            .map_err(|e| Error::Runtime(format!("{}: {e}", path.display())))
    }
}

/// Reads `root/<sequence>/<k>.json` ([`DetectionFile`] format), checking the image size. When
/// `root/baseline.json` (written by `scripts/baselines.py`) gives `detect_ms_per_image`, that is
/// reported as the detection time.
pub struct JsonSource {
    root: PathBuf,
    name: String,
    detect_ms: Option<f64>,
}

impl JsonSource {
    /// Detections under `root`; `name` labels the report.
    pub fn new(root: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        let root = root.into();
        let detect_ms = std::fs::read_to_string(root.join("baseline.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["detect_ms_per_image"].as_f64());
        JsonSource {
            root,
            name: name.into(),
            detect_ms,
        }
    }
}

impl FeatureSource for JsonSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn features(&mut self, seq: &Sequence, k: usize) -> Result<(Features, Option<f64>), Error> {
        let path = self.root.join(&seq.name).join(format!("{k}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::io(
                format!(
                    "cannot read detections {} (expected <detections>/<sequence>/<k>.json for every image, e.g. from scripts/baselines.py)",
                    path.display()
                ),
                e,
            )
        })?;
        let file: DetectionFile = serde_json::from_str(&text).map_err(|e| {
            Error::Input(format!(
                "{}: not a detection file ({{\"width\",\"height\",\"keypoints\":[[x,y,score]],\"descriptors\":[[..]]}}): {e}",
                path.display()
            ))
        })?;
        let path = seq.image(k).ok_or_else(|| missing_image(seq, k))?;
        let (w, h) = image::image_dimensions(path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if (file.width, file.height) != (w, h) {
            return Err(Error::Input(format!(
                "{}: detections are for a {}x{} image but {} is {w}x{h}; detect on the original images",
                path.display(),
                file.width,
                file.height,
                path.display()
            )));
        }
        let f = Features::from_file(&file)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        Ok((f, self.detect_ms))
    }
}
