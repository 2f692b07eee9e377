//! Synthetic viewpoint sequences made from a folder of photos (see [`generate_synthetic`]).

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::dataset::{IMAGE_EXTENSIONS, Sequence, load_sequence, write_homography};
use crate::Error;
use crate::image_io::OwnedImage;
use crate::sampling::{HomographyParams, sample_homography};
use crate::warp::{Interpolation, warp_gray};

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
        .map_err(|e| Error::io(format!("cannot list photo folder {}", dir.display()), e))?
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
        .map_err(|e| Error::io(format!("cannot create {}", out.display()), e))?;
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
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let save = |img: &image::GrayImage, p: &Path| {
            img.save(p)
                .map_err(|e| Error::io(format!("cannot write {}", p.display()), e))
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
        let mut warnings = Vec::new();
        sequences.push(load_sequence(&dir, name, &mut warnings)?);
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
    .map_err(|e| Error::io(format!("cannot write {}", p.display()), e))?;
    Ok(sequences)
}
