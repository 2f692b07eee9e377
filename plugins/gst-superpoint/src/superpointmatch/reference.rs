//! The `reference-location` image of `superpointmatch`, detected by the element itself, as one
//! image or as views of it (`reference-views`, [`superpoint::views`]).

use std::path::Path;

use superpoint::image_io::OwnedImage;
use superpoint::views::{ViewParams, describe_views};
use superpoint::{Detections, Detector, DetectorConfig, EngineOptions, PostParams};

use crate::meta::KeypointsData;

/// The keypoints of a `reference-location` image, detected with the `reference-*` settings: the
/// image itself first, then (unless `views` is a single view) its other views, with keypoints in
/// the image's pixels; and the licence recorded in the model (imported weights), to log once.
pub(super) fn detect_reference(
    model: &str,
    post: PostParams,
    views: &ViewParams,
    location: &str,
) -> Result<(Vec<KeypointsData>, Option<String>), gst::ErrorMessage> {
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
        // The reference views ([`superpoint::views`]) already cover scale.
        scales: Default::default(),
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
    let failed = |e: superpoint::Error| {
        gst::error_msg!(
            gst::LibraryError::Failed,
            ("superpointmatch: detection on {} failed: {}", location, e)
        )
    };
    let mut det = Detections::default();
    detector.detect(&frame, &mut det).map_err(failed)?;
    let model_id = detector.model_info().model_id.clone();
    let licence = detector.model_info().licence.clone();
    let mut out = vec![KeypointsData {
        width: det.width,
        height: det.height,
        keypoints: det.keypoints,
        descriptors: det.descriptors,
        model_id: model_id.clone(),
        scales: Vec::new(),
    }];
    if !views.is_single() {
        let described =
            describe_views(&mut detector, &image, views, post.border).map_err(failed)?;
        out.extend(described.into_iter().map(|v| KeypointsData {
            width: v.features.width,
            height: v.features.height,
            keypoints: v.features.keypoints,
            descriptors: v.features.descriptors,
            model_id: model_id.clone(),
            scales: Vec::new(),
        }));
    }
    Ok((out, licence))
}
