//! HPatches-style evaluation: dataset loading, synthetic datasets from photos, feature sources
//! (the SuperPoint model, or JSON files of any detector), aggregation into a [`Report`] with a
//! text table, and a PNG plot of MMA against the threshold.
//!
//! **Layout.** A dataset folder holds one folder per sequence (or is itself one sequence). A
//! sequence holds images `1.ppm`, `2.ppm`, ... (or `.png`, `.jpg`, `.pgm`) and, for every image
//! `k >= 2`, a text file `H_1_k` with the 3x3 homography (9 numbers, row-major) mapping pixels of
//! image 1 to pixels of image k. OpenCV matrix files (`<data>` of an `opencv-matrix` in XML) are
//! accepted too. Sequences named `i_*` are illumination changes, `v_*` viewpoint changes (as in
//! HPatches); results are reported for all pairs and for each of the two groups.
//!
//! **External detections.** `DIR/<sequence>/<k>.json` per image, in the
//! [`crate::json::DetectionFile`] format, evaluated through the same code as the model.
//!
//! **Synthetic datasets.** [`generate_synthetic`] turns a folder of photos into viewpoint sequences
//! `v_syn_<photo>`: the photo (grey, longer side reduced to [`SyntheticParams::max_side`]) as image 1
//! and [`SyntheticParams::warps`] warps by random homographies drawn with
//! [`crate::sampling::sample_homography`] (amplitudes in [`SyntheticParams::homography`]) from a
//! generator seeded with [`SyntheticParams::seed`] and the photo's position in name order.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::detector::{Detections, Detector};
use crate::geometry::Homography;
use crate::image_io::OwnedImage;
use crate::json::DetectionFile;
use crate::matching::Matcher;
use crate::metrics::{Features, MMA_THRESHOLDS, MetricParams, PairMetrics, evaluate_pair};
use crate::sampling::{HomographyParams, sample_homography};
use crate::warp::{Interpolation, warp_gray};

/// Image file extensions looked for, in this order.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["ppm", "png", "jpg", "jpeg", "pgm"];

/// What a sequence varies, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequenceKind {
    /// `i_*`: the same view under different illumination.
    Illumination,
    /// `v_*`: different viewpoints.
    Viewpoint,
    /// Any other name.
    Other,
}

impl SequenceKind {
    /// From a sequence name (`i_` / `v_` prefix).
    pub fn from_name(name: &str) -> Self {
        if name.starts_with("i_") {
            SequenceKind::Illumination
        } else if name.starts_with("v_") {
            SequenceKind::Viewpoint
        } else {
            SequenceKind::Other
        }
    }
}

/// One sequence: image 1 and images 2.. with their homographies from image 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Folder name.
    pub name: String,
    /// Folder.
    pub dir: PathBuf,
    /// Illumination / viewpoint.
    pub kind: SequenceKind,
    /// Image files; `images[k - 1]` is image `k`.
    pub images: Vec<PathBuf>,
    /// `homographies[k - 1]` maps image 1 to image `k` (identity for k = 1).
    pub homographies: Vec<Homography>,
}

/// Reads a homography: 9 numbers separated by white space or commas (HPatches `H_1_k`), or the
/// `<data>` of an OpenCV XML matrix.
pub fn parse_homography(text: &str) -> Result<Homography, String> {
    let body = match (text.find("<data>"), text.find("</data>")) {
        (Some(s), Some(e)) if e > s => &text[s + 6..e],
        _ => text,
    };
    let values: Vec<f64> = body
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .map_err(|_| format!("{t:?} is not a number"))
        })
        .collect::<Result<_, _>>()?;
    if values.len() != 9 {
        return Err(format!(
            "expected 9 numbers (a 3x3 matrix, row-major), found {}",
            values.len()
        ));
    }
    let h = Homography(values.try_into().expect("9 values")).normalized();
    if !h.is_valid() {
        return Err("the matrix is singular or not finite".into());
    }
    Ok(h)
}

/// Reads a homography file; see [`parse_homography`].
pub fn read_homography(path: &Path) -> Result<Homography, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    parse_homography(&text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Writes a homography as HPatches text (3 lines of 3 numbers, full precision).
pub fn write_homography(path: &Path, h: &Homography) -> Result<(), Error> {
    let m = &h.0;
    let text = format!(
        "{:e} {:e} {:e}\n{:e} {:e} {:e}\n{:e} {:e} {:e}\n",
        m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]
    );
    std::fs::write(path, text)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))
}

fn find_image(dir: &Path, k: usize) -> Option<PathBuf> {
    IMAGE_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{k}.{ext}")))
        .find(|p| p.is_file())
}

/// Loads one sequence folder.
pub fn load_sequence(dir: &Path) -> Result<Sequence, Error> {
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let first = find_image(dir, 1).ok_or_else(|| {
        Error::Input(format!(
            "{}: no image 1 (expected 1.ppm or 1.png, as in HPatches)",
            dir.display()
        ))
    })?;
    let mut images = vec![first];
    let mut homographies = vec![Homography::IDENTITY];
    let mut k = 2;
    while let Some(img) = find_image(dir, k) {
        let hp = dir.join(format!("H_1_{k}"));
        if !hp.is_file() {
            return Err(Error::Input(format!(
                "{}: image {} has no homography file {} (3x3 matrix mapping image 1 to image {k})",
                dir.display(),
                img.display(),
                hp.display()
            )));
        }
        homographies.push(read_homography(&hp)?);
        images.push(img);
        k += 1;
    }
    if images.len() < 2 {
        return Err(Error::Input(format!(
            "{}: only image 1 found; a sequence needs 2.ppm (or .png) and H_1_2 too",
            dir.display()
        )));
    }
    Ok(Sequence {
        kind: SequenceKind::from_name(&name),
        name,
        dir: dir.to_path_buf(),
        images,
        homographies,
    })
}

/// Loads a dataset: `dir` is one sequence (it holds `1.ppm`/`1.png`) or a folder of sequences
/// (sub-folders without an image 1 are skipped). Sequences are sorted by name.
pub fn load_dataset(dir: &Path) -> Result<Vec<Sequence>, Error> {
    if !dir.is_dir() {
        return Err(Error::Io(format!(
            "dataset folder {} does not exist (expected HPatches layout: <sequence>/1.ppm..6.ppm and H_1_2..H_1_6)",
            dir.display()
        )));
    }
    if find_image(dir, 1).is_some() {
        return Ok(vec![load_sequence(dir)?]);
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Io(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && find_image(p, 1).is_some())
        .collect();
    subdirs.sort();
    if subdirs.is_empty() {
        return Err(Error::Input(format!(
            "no HPatches sequences in {}: expected folders holding 1.ppm..6.ppm (or .png) and H_1_2..H_1_6",
            dir.display()
        )));
    }
    subdirs.iter().map(|d| load_sequence(d)).collect()
}

/// Parameters of [`generate_synthetic`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticParams {
    /// Warped images per photo (images 2..=warps+1 of each sequence; HPatches has 5).
    pub warps: usize,
    /// Seed of the homography generator.
    pub seed: u64,
    /// Longer image side after downscaling (0 = keep the photo's size).
    pub max_side: usize,
    /// Amplitudes of the random homographies.
    pub homography: HomographyParams,
}

impl Default for SyntheticParams {
    /// 5 warps per photo, seed 0, longer side 640 px, the training augmentation's amplitudes
    /// ([`HomographyParams::default`]).
    fn default() -> Self {
        SyntheticParams {
            warps: 5,
            seed: 0,
            max_side: 640,
            homography: HomographyParams::default(),
        }
    }
}

/// Photos (files with an image extension) of a folder, sorted by name.
fn list_photos(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Io(format!("cannot list photo folder {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
        })
        .collect();
    photos.sort();
    if photos.is_empty() {
        return Err(Error::Input(format!(
            "no photos in {} (looked for {} files)",
            dir.display(),
            IMAGE_EXTENSIONS.join(", ")
        )));
    }
    Ok(photos)
}

/// The sequence folder made from `photo`: `v_syn_<stem>` with characters other than ASCII letters,
/// digits and '-' replaced by '_'.
fn sequence_name(photo: &Path) -> String {
    let stem: String = photo
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("v_syn_{stem}")
}

/// Writes an HPatches-layout dataset of synthetic viewpoint sequences `out/v_syn_<photo>` made from
/// the photos in `photos` (see the module docs), plus `out/synthetic.json` with the parameters.
/// Deterministic for given photos and parameters; existing files of those sequences are replaced.
/// Photos whose names give the same sequence folder (see `v_syn_<stem>`: `x.png` and `x.jpg`)
/// are an [`Error::Input`] before anything is written.
pub fn generate_synthetic(
    photos: &Path,
    out: &Path,
    params: &SyntheticParams,
) -> Result<Vec<Sequence>, Error> {
    params.homography.validate()?;
    if params.warps == 0 {
        return Err(Error::Config("warps per photo must be at least 1".into()));
    }
    let list = list_photos(photos)?;
    // One sequence folder per photo, named after it: photos whose names map to the same folder
    // (x.png and x.jpg, "a b.png" and "a_b.png") would overwrite each other's sequence.
    let names: Vec<String> = list.iter().map(|p| sequence_name(p)).collect();
    let mut by_name: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (name, photo) in names.iter().zip(&list) {
        by_name
            .entry(name)
            .or_default()
            .push(photo.display().to_string());
    }
    let clashes: Vec<String> = by_name
        .iter()
        .filter(|(_, photos)| photos.len() > 1)
        .map(|(name, photos)| format!("{} would all become {name}", photos.join(", ")))
        .collect();
    if !clashes.is_empty() {
        return Err(Error::Input(format!(
            "photos would overwrite each other's synthetic sequence: {}. Nothing was written; \
             rename the photos so their names without extension differ (letters, digits and '-' \
             are kept, other characters become '_')",
            clashes.join("; ")
        )));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", out.display())))?;
    let mut sequences = Vec::new();
    for ((index, photo), name) in list.iter().enumerate().zip(&names) {
        let img = OwnedImage::load(photo)?;
        let mut gray =
            image::GrayImage::from_raw(img.width as u32, img.height as u32, img.to_luma())
                .ok_or_else(|| Error::Input(format!("{}: bad image buffer", photo.display())))?;
        let longer = img.width.max(img.height);
        if params.max_side > 0 && longer > params.max_side {
            let s = params.max_side as f64 / longer as f64;
            let (w, h) = (
                ((img.width as f64 * s).round() as u32).max(1),
                ((img.height as f64 * s).round() as u32).max(1),
            );
            gray = image::imageops::resize(&gray, w, h, image::imageops::FilterType::Triangle);
        }
        let (w, h) = (gray.width() as usize, gray.height() as usize);
        if w < crate::MIN_FRAME_SIDE || h < crate::MIN_FRAME_SIDE {
            return Err(Error::Input(format!(
                "{}: {w}x{h} is too small for a synthetic pair (at least {m}x{m})",
                photo.display(),
                m = crate::MIN_FRAME_SIDE
            )));
        }
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
        let save = |img: &image::GrayImage, p: &Path| {
            img.save(p)
                .map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))
        };
        save(&gray, &dir.join("1.png"))?;
        let mut rng = Pcg64::seed_from_u64(
            params
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(index as u64),
        );
        let src = gray.as_raw();
        let mut dst = vec![0u8; w * h];
        for k in 2..=params.warps + 1 {
            let hm = sample_homography(w, h, &params.homography, &mut rng);
            warp_gray(src, w, h, &mut dst, w, h, &hm, Interpolation::Bilinear, 0)?;
            let warped = image::GrayImage::from_raw(w as u32, h as u32, dst.clone())
                .expect("buffer of the right size");
            save(&warped, &dir.join(format!("{k}.png")))?;
            write_homography(&dir.join(format!("H_1_{k}")), &hm)?;
        }
        sequences.push(load_sequence(&dir)?);
    }
    let provenance = serde_json::json!({
        "generator": "superpoint eval --synthetic",
        "photos": photos.display().to_string(),
        "params": params,
    });
    let p = out.join("synthetic.json");
    std::fs::write(
        &p,
        serde_json::to_string_pretty(&provenance).unwrap_or_default(),
    )
    .map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))?;
    Ok(sequences)
}

/// Where the features of each image come from.
pub trait FeatureSource {
    /// Name of the method for reports.
    fn name(&self) -> String;
    /// Features of image `k` (1-based) of `seq`, and the detection time in milliseconds when it
    /// was measured.
    fn features(&mut self, seq: &Sequence, k: usize) -> Result<(Features, Option<f64>), Error>;
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
        let path = &seq.images[k - 1];
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
            Error::Io(format!(
                "cannot read detections {}: {e} (expected <detections>/<sequence>/<k>.json for every image, e.g. from scripts/baselines.py)",
                path.display()
            ))
        })?;
        let file: DetectionFile = serde_json::from_str(&text).map_err(|e| {
            Error::Input(format!(
                "{}: not a detection file ({{\"width\",\"height\",\"keypoints\":[[x,y,score]],\"descriptors\":[[..]]}}): {e}",
                path.display()
            ))
        })?;
        let (w, h) = image::image_dimensions(&seq.images[k - 1])
            .map_err(|e| Error::Io(format!("cannot read {}: {e}", seq.images[k - 1].display())))?;
        if (file.width, file.height) != (w, h) {
            return Err(Error::Input(format!(
                "{}: detections are for a {}x{} image but {} is {w}x{h}; detect on the original images",
                path.display(),
                file.width,
                file.height,
                seq.images[k - 1].display()
            )));
        }
        let f = Features::from_file(&file)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        Ok((f, self.detect_ms))
    }
}

/// Means of one group of pairs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// `all`, `illumination` or `viewpoint`.
    pub split: String,
    /// Sequences in the group.
    pub sequences: usize,
    /// Pairs in the group.
    pub pairs: usize,
    /// Mean keypoints per image used for matching (top N).
    pub keypoints: f64,
    /// Mean repeatability for each `k` (`[k, value]`); pairs without a shared view are skipped.
    pub repeatability: Vec<(usize, Option<f64>)>,
    /// Mean localisation error of repeated points at the first `k`, pixels.
    pub localization_error: Option<f64>,
    /// Mean matching score.
    pub matching_score: Option<f64>,
    /// Mean MMA at 1..10 px.
    pub mma: Vec<f64>,
    /// Mean matches per pair.
    pub matches: f64,
    /// Mean RANSAC inliers per pair.
    pub inliers: f64,
    /// Fraction of pairs whose estimated homography is within each ε (`[ε, fraction]`).
    pub homography_accuracy: Vec<(f64, f64)>,
    /// Median corner error over the pairs with an estimate, pixels.
    pub median_corner_error: Option<f64>,
    /// Pairs where no homography could be estimated.
    pub homography_failures: usize,
    /// Mean detection time per image, milliseconds (when measured).
    pub detect_ms: Option<f64>,
    /// Mean matching + RANSAC time per pair, milliseconds.
    pub match_ms: f64,
}

/// The result of an evaluation: parameters, per-group means and per-pair metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Method name (model id, or the detections folder).
    pub method: String,
    /// Dataset folder.
    pub dataset: String,
    /// Metric parameters.
    pub params: MetricParams,
    /// `all`, then `illumination` and `viewpoint` when the dataset has such sequences.
    pub summaries: Vec<Summary>,
    /// Every pair.
    pub pairs: Vec<PairMetricsRecord>,
}

/// A pair's metrics with its sequence kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairMetricsRecord {
    /// Illumination / viewpoint.
    pub kind: SequenceKind,
    /// The metrics.
    #[serde(flatten)]
    pub metrics: PairMetrics,
}

fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

fn summarize(split: &str, pairs: &[&PairMetricsRecord], params: &MetricParams) -> Summary {
    let mut seqs: Vec<&str> = pairs.iter().map(|p| p.metrics.sequence.as_str()).collect();
    seqs.dedup();
    let m = |p: &&PairMetricsRecord| p.metrics.clone();
    let all: Vec<PairMetrics> = pairs.iter().map(m).collect();
    let repeatability = params
        .repeatability_keypoints
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            (
                k,
                mean(
                    all.iter()
                        .filter_map(|p| p.repeatability.get(i).and_then(|r| r.value)),
                ),
            )
        })
        .collect();
    let mut corner: Vec<f64> = all.iter().filter_map(|p| p.corner_error).collect();
    corner.sort_by(f64::total_cmp);
    let median_corner_error = (!corner.is_empty()).then(|| {
        let n = corner.len();
        if n % 2 == 1 {
            corner[n / 2]
        } else {
            (corner[n / 2 - 1] + corner[n / 2]) / 2.0
        }
    });
    Summary {
        split: split.to_string(),
        sequences: seqs.len(),
        pairs: all.len(),
        keypoints: mean(
            all.iter()
                .flat_map(|p| [p.keypoints_a as f64, p.keypoints_b as f64]),
        )
        .unwrap_or(0.0),
        repeatability,
        localization_error: mean(
            all.iter()
                .filter_map(|p| p.repeatability.first().and_then(|r| r.localization_error)),
        ),
        matching_score: mean(all.iter().filter_map(|p| p.matching_score)),
        mma: (0..MMA_THRESHOLDS.len())
            .map(|i| mean(all.iter().map(|p| p.mma.get(i).copied().unwrap_or(0.0))).unwrap_or(0.0))
            .collect(),
        matches: mean(all.iter().map(|p| p.matches as f64)).unwrap_or(0.0),
        inliers: mean(all.iter().map(|p| p.inliers as f64)).unwrap_or(0.0),
        homography_accuracy: params
            .homography_epsilons
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                (
                    e,
                    mean(all.iter().map(|p| {
                        if p.homography_correct.get(i).copied().unwrap_or(false) {
                            1.0
                        } else {
                            0.0
                        }
                    }))
                    .unwrap_or(0.0),
                )
            })
            .collect(),
        median_corner_error,
        homography_failures: all.iter().filter(|p| p.homography.is_none()).count(),
        detect_ms: mean(all.iter().filter_map(|p| p.detect_ms)),
        match_ms: mean(all.iter().map(|p| p.match_ms)).unwrap_or(0.0),
    }
}

/// Evaluates `source` on every pair (1, k) of every sequence. `progress` receives one line per
/// sequence.
pub fn evaluate(
    dataset: &str,
    sequences: &[Sequence],
    source: &mut dyn FeatureSource,
    params: &MetricParams,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, Error> {
    params.validate()?;
    let mut matcher = Matcher::new();
    let mut pairs = Vec::new();
    for seq in sequences {
        let (a, ms_a) = source.features(seq, 1)?;
        let mut line = format!("{}: image 1 {} keypoints", seq.name, a.len());
        for k in 2..=seq.images.len() {
            let (b, ms_b) = source.features(seq, k)?;
            let mut m = evaluate_pair(&a, &b, &seq.homographies[k - 1], params, &mut matcher)
                .map_err(|e| Error::Input(format!("{} pair (1, {k}): {e}", seq.name)))?;
            m.sequence = seq.name.clone();
            m.image = k;
            m.detect_ms = match (k, ms_a, ms_b) {
                // Image 1's time is folded into the first pair's mean.
                (2, Some(x), Some(y)) => Some((x + y) / 2.0),
                (_, _, y) => y,
            };
            line.push_str(&format!(
                " | {k}: {} matches, corner error {}",
                m.matches,
                m.corner_error
                    .map_or_else(|| "-".to_string(), |e| format!("{e:.1}"))
            ));
            pairs.push(PairMetricsRecord {
                kind: seq.kind,
                metrics: m,
            });
        }
        progress(&line);
    }
    let mut summaries = Vec::new();
    let refs: Vec<&PairMetricsRecord> = pairs.iter().collect();
    summaries.push(summarize("all", &refs, params));
    for (kind, name) in [
        (SequenceKind::Illumination, "illumination"),
        (SequenceKind::Viewpoint, "viewpoint"),
    ] {
        let group: Vec<&PairMetricsRecord> = pairs.iter().filter(|p| p.kind == kind).collect();
        if !group.is_empty() {
            summaries.push(summarize(name, &group, params));
        }
    }
    Ok(Report {
        method: source.name(),
        dataset: dataset.to_string(),
        params: params.clone(),
        summaries,
        pairs,
    })
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

impl Report {
    /// A plain-text table of the summaries.
    pub fn table(&self) -> String {
        let mut s = format!("method: {}\ndataset: {}\n", self.method, self.dataset);
        let p = &self.params;
        s.push_str(&format!(
            "protocol: top {} keypoints, repeatability/matching score at {} px, mutual NN{}{}, RANSAC {} px\n\n",
            if p.num_keypoints == 0 {
                "all".to_string()
            } else {
                p.num_keypoints.to_string()
            },
            p.epsilon,
            if p.matching.ratio < 1.0 {
                format!(", ratio {}", p.matching.ratio)
            } else {
                String::new()
            },
            if p.matching.max_distance.is_finite() {
                format!(", max distance {}", p.matching.max_distance)
            } else {
                String::new()
            },
            p.ransac.threshold
        ));
        let mut header = vec!["split".to_string(), "pairs".into(), "kpts".into()];
        if let Some(first) = self.summaries.first() {
            for (k, _) in &first.repeatability {
                header.push(if *k == 0 {
                    "rep@all".to_string()
                } else {
                    format!("rep@{k}")
                });
            }
            header.push("loc.err".into());
            header.push("M.score".into());
            for t in [1usize, 3, 5, 10] {
                header.push(format!("MMA@{t}"));
            }
            for (e, _) in &first.homography_accuracy {
                header.push(format!("H@{e}"));
            }
            for h in [
                "med.corner",
                "H.fail",
                "matches",
                "inliers",
                "det.ms/img",
                "match.ms/pair",
            ] {
                header.push(h.into());
            }
        }
        let mut rows = vec![header];
        for sm in &self.summaries {
            let mut r = vec![
                sm.split.clone(),
                sm.pairs.to_string(),
                format!("{:.0}", sm.keypoints),
            ];
            for (_, v) in &sm.repeatability {
                r.push(opt(*v, 3));
            }
            r.push(opt(sm.localization_error, 2));
            r.push(opt(sm.matching_score, 3));
            for t in [1usize, 3, 5, 10] {
                r.push(format!("{:.3}", sm.mma.get(t - 1).copied().unwrap_or(0.0)));
            }
            for (_, a) in &sm.homography_accuracy {
                r.push(format!("{a:.3}"));
            }
            r.push(opt(sm.median_corner_error, 2));
            r.push(sm.homography_failures.to_string());
            r.push(format!("{:.0}", sm.matches));
            r.push(format!("{:.0}", sm.inliers));
            r.push(opt(sm.detect_ms, 1));
            r.push(format!("{:.2}", sm.match_ms));
            rows.push(r);
        }
        let cols = rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .map(|r| r.get(c).map_or(0, String::len))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    if c == 0 {
                        format!("{v:<w$}", w = widths[c])
                    } else {
                        format!("{v:>w$}", w = widths[c])
                    }
                })
                .collect();
            s.push_str(line.join("  ").trim_end());
            s.push('\n');
        }
        if let Some(all) = self.summaries.first() {
            s.push_str("\nMMA at 1..10 px (all): ");
            let v: Vec<String> = all.mma.iter().map(|x| format!("{x:.3}")).collect();
            s.push_str(&v.join(" "));
            s.push('\n');
        }
        s
    }

    /// The MMA curves of this report, one per split, labelled `<method> <split>`.
    /// A group holding every pair (a dataset of only viewpoint sequences) repeats `all` and is
    /// left out.
    pub fn mma_series(&self) -> Vec<(String, Vec<f64>)> {
        let total = self.summaries.first().map_or(0, |s| s.pairs);
        self.summaries
            .iter()
            .enumerate()
            .filter(|(i, s)| *i == 0 || s.pairs != total)
            .map(|(_, s)| (format!("{} {}", self.method, s.split), s.mma.clone()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// PNG plot of MMA against the threshold, drawn with a built-in 5x7 pixel font (no system fonts).

/// 5x7 glyphs, one byte per row, bit 4 = leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '@' => [0x0E, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0E],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        ' ' => [0; 7],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    }
}

struct Canvas {
    img: image::RgbImage,
}

impl Canvas {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.img.width() && (y as u32) < self.img.height() {
            self.img.put_pixel(x as u32, y as u32, image::Rgb(c));
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.put(x, y, c);
            }
        }
    }

    /// A line of the given thickness; `dash` = (on, off) pixel lengths, (0, 0) for solid.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
        c: [u8; 3],
        thick: i64,
        dash: (f64, f64),
    ) {
        let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        let steps = (len.ceil() as usize).max(1);
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            if dash.0 > 0.0 && (t * len) % (dash.0 + dash.1) > dash.0 {
                continue;
            }
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            let r = thick / 2;
            self.rect(
                x.round() as i64 - r,
                y.round() as i64 - r,
                x.round() as i64 - r + thick - 1,
                y.round() as i64 - r + thick - 1,
                c,
            );
        }
    }

    /// Text at (x, y) = top-left, glyphs scaled by `s`.
    fn text(&mut self, x: i64, y: i64, s: i64, text: &str, c: [u8; 3]) {
        for (i, ch) in text.chars().enumerate() {
            let g = glyph(ch);
            let gx = x + i as i64 * 6 * s;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.rect(
                            gx + col * s,
                            y + row as i64 * s,
                            gx + col * s + s - 1,
                            y + row as i64 * s + s - 1,
                            c,
                        );
                    }
                }
            }
        }
    }
}

/// Draws MMA curves (one per `(label, values at 1..10 px)`) into a PNG file. Series that share
/// the text before the last space share a colour; the last word picks the dash pattern
/// (`all` solid, `illumination` dashed, `viewpoint` dotted).
pub fn plot_mma(series: &[(String, Vec<f64>)], path: &Path) -> Result<(), Error> {
    const PALETTE: [[u8; 3]; 8] = [
        [31, 119, 180],
        [214, 39, 40],
        [44, 160, 44],
        [255, 127, 14],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [23, 190, 207],
    ];
    let (w, h) = (960u32, 560u32);
    let (left, right, top, bottom) = (80.0, 660.0, 50.0, 480.0);
    let mut cv = Canvas {
        img: image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255])),
    };
    let n = MMA_THRESHOLDS.len();
    let xs = |t: f64| left + (t - 1.0) / (n as f64 - 1.0) * (right - left);
    let ys = |v: f64| bottom - v.clamp(0.0, 1.0) * (bottom - top);
    let grey = [220, 220, 220];
    let black = [0, 0, 0];
    for i in 0..=5 {
        let v = i as f64 / 5.0;
        cv.line(left, ys(v), right, ys(v), grey, 1, (0.0, 0.0));
        let label = format!("{v:.1}");
        cv.text(
            left as i64 - 12 - 12 * label.len() as i64,
            ys(v) as i64 - 7,
            2,
            &label,
            black,
        );
    }
    for (i, &t) in MMA_THRESHOLDS.iter().enumerate() {
        cv.line(xs(t), top, xs(t), bottom, grey, 1, (0.0, 0.0));
        let label = format!("{}", i + 1);
        cv.text(
            xs(t) as i64 - 6 * label.len() as i64,
            bottom as i64 + 10,
            2,
            &label,
            black,
        );
    }
    cv.line(left, bottom, right, bottom, black, 2, (0.0, 0.0));
    cv.line(left, top, left, bottom, black, 2, (0.0, 0.0));
    cv.text(left as i64, 12, 3, "MMA vs threshold", black);
    cv.text(
        ((left + right) / 2.0) as i64 - 90,
        bottom as i64 + 40,
        2,
        "threshold (px)",
        black,
    );
    cv.text(10, (top - 30.0) as i64, 2, "MMA", black);

    let mut methods: Vec<&str> = Vec::new();
    for (si, (label, values)) in series.iter().enumerate() {
        let (method, split) = label.rsplit_once(' ').unwrap_or((label.as_str(), "all"));
        let mi = methods
            .iter()
            .position(|m| *m == method)
            .unwrap_or_else(|| {
                methods.push(method);
                methods.len() - 1
            });
        let color = PALETTE[mi % PALETTE.len()];
        let dash = match split {
            "illumination" => (10.0, 6.0),
            "viewpoint" => (3.0, 4.0),
            _ => (0.0, 0.0),
        };
        let pts: Vec<(f64, f64)> = values
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, &v)| (xs(MMA_THRESHOLDS[i]), ys(v)))
            .collect();
        for win in pts.windows(2) {
            cv.line(win[0].0, win[0].1, win[1].0, win[1].1, color, 3, dash);
        }
        for &(x, y) in &pts {
            cv.rect(
                x as i64 - 3,
                y as i64 - 3,
                x as i64 + 3,
                y as i64 + 3,
                color,
            );
        }
        // Legend entry.
        let ly = top + 10.0 + si as f64 * 26.0;
        cv.line(
            right + 20.0,
            ly + 7.0,
            right + 60.0,
            ly + 7.0,
            color,
            3,
            dash,
        );
        let short: String = label.chars().take(22).collect();
        cv.text(right as i64 + 70, ly as i64, 2, &short, black);
    }
    cv.img
        .save(path)
        .map_err(|e| Error::Io(format!("cannot write plot {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hpatches_and_opencv_matrices() {
        let h = parse_homography("1 0 5\n0 1 -3\n0 0 1\n").unwrap();
        assert_eq!(h.apply(0.0, 0.0), Some((5.0, -3.0)));
        let xml = "<?xml version=\"1.0\"?>\n<opencv_storage>\n<H13 type_id=\"opencv-matrix\">\n<rows>3</rows>\n<cols>3</cols>\n<dt>d</dt>\n<data>\n 2. 0. 0.\n 0. 2. 0.\n 0. 0. 2. </data></H13>\n</opencv_storage>\n";
        let h = parse_homography(xml).unwrap();
        assert_eq!(h.apply(3.0, 4.0), Some((3.0, 4.0)));
        assert!(parse_homography("1 2 3").unwrap_err().contains("9 numbers"));
        assert!(
            parse_homography("1 0 0 0 1 0 0 0 x")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse_homography("0 0 0 0 0 0 0 0 0")
                .unwrap_err()
                .contains("singular")
        );
    }

    #[test]
    fn sequence_kinds() {
        assert_eq!(
            SequenceKind::from_name("i_ajuntament"),
            SequenceKind::Illumination
        );
        assert_eq!(
            SequenceKind::from_name("v_graffiti"),
            SequenceKind::Viewpoint
        );
        assert_eq!(SequenceKind::from_name("graf"), SequenceKind::Other);
    }

    #[test]
    fn dataset_errors_are_explained() {
        let dir = std::env::temp_dir().join(format!("sp-eval-empty-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("seq")).unwrap();
        let e = load_dataset(&dir).unwrap_err().to_string();
        assert!(e.contains("no HPatches sequences"), "{e}");
        let e = load_dataset(&dir.join("missing")).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        // Image 2 without H_1_2.
        let img = image::GrayImage::from_pixel(32, 32, image::Luma([7]));
        img.save(dir.join("seq/1.png")).unwrap();
        img.save(dir.join("seq/2.png")).unwrap();
        let e = load_dataset(&dir).unwrap_err().to_string();
        assert!(e.contains("H_1_2"), "{e}");
        std::fs::write(dir.join("seq/H_1_2"), "1 0 0 0 1 0 0 0 1").unwrap();
        let seqs = load_dataset(&dir).unwrap();
        assert_eq!(seqs.len(), 1);
        assert_eq!(seqs[0].images.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plot_renders_a_png() {
        let p = std::env::temp_dir().join(format!("sp-eval-plot-{}.png", std::process::id()));
        let series = vec![
            (
                "sift all".to_string(),
                (1..=10).map(|i| i as f64 / 10.0).collect(),
            ),
            ("sift viewpoint".to_string(), vec![0.5; 10]),
        ];
        plot_mma(&series, &p).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (960, 560));
        // The first series' colour is on the canvas.
        assert!(img.pixels().any(|px| px.0 == [31, 119, 180]));
        std::fs::remove_file(&p).unwrap();
    }
}
