//! The `reference-location` image of `superpointmatch`, detected by the element itself.

use std::path::Path;

use superpoint::image_io::OwnedImage;
use superpoint::{Detections, Detector, DetectorConfig, EngineOptions, PostParams};

use crate::meta::KeypointsData;

/// The keypoints of a `reference-location` image, detected with the `reference-*` settings.
pub(super) fn detect_reference(
    model: &str,
    post: PostParams,
    location: &str,
) -> Result<KeypointsData, gst::ErrorMessage> {
    let image = OwnedImage::load(Path::new(location)).map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::OpenRead,
            (
                "superpointmatch reference-location: {} (it must name a readable PNG, JPEG or PNM image)",
                e
            )
        )
    })?;
    let frame = image.frame().map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::Settings,
            ("superpointmatch reference-location {}: {}", location, e)
        )
    })?;
    let config = DetectorConfig {
        post,
        inference_width: 0,
        inference_height: 0,
        descriptors: true,
    };
    let mut detector = Detector::new(
        Path::new(&model),
        &EngineOptions::default(),
        config,
    )
    .map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::OpenRead,
            (
                "superpointmatch cannot load reference-model {} to detect the reference image: {} (set reference-model to the model of the upstream superpointdetect)",
                model,
                e
            )
        )
    })?;
    let mut det = Detections::default();
    detector.detect(&frame, &mut det).map_err(|e| {
        gst::error_msg!(
            gst::LibraryError::Failed,
            ("superpointmatch: detection on {} failed: {}", location, e)
        )
    })?;
    Ok(KeypointsData {
        width: det.width,
        height: det.height,
        keypoints: det.keypoints,
        descriptors: det.descriptors,
        model_id: detector.model_info().model_id.clone(),
    })
}
