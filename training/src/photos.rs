//! Photos for the real-image stages: any folder of images (searched recursively), optionally
//! filtered by the `licence_class` column of a `MANIFEST.tsv` at its root, loaded as grey images
//! resized to cover the training size and centre-cropped. Photos are read in place, never copied.

use std::path::{Path, PathBuf};

use anyhow::Context;
use image::imageops::FilterType;
use superpoint::image_io::OwnedImage;

const EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "ppm", "pgm", "pnm"];

/// Image files under `dir`, sorted; with `licence`, only those whose `licence_class` in
/// `dir/MANIFEST.tsv` equals it.
pub fn list_photos(dir: &Path, licence: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(
        dir.is_dir(),
        "photo folder {} does not exist",
        dir.display()
    );
    let mut out = Vec::new();
    if let Some(class) = licence {
        let manifest = dir.join("MANIFEST.tsv");
        let text = std::fs::read_to_string(&manifest).with_context(|| {
            format!(
                "--licence needs {} (a TSV with `file` and `licence_class` columns)",
                manifest.display()
            )
        })?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .with_context(|| format!("{} has no `{name}` column", manifest.display()))
        };
        let (fcol, lcol) = (col("file")?, col("licence_class")?);
        let mut classes = std::collections::BTreeSet::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let cells: Vec<&str> = line.split('\t').collect();
            let (Some(file), Some(lic)) = (cells.get(fcol), cells.get(lcol)) else {
                anyhow::bail!("{}: malformed row {line:?}", manifest.display());
            };
            classes.insert(lic.to_string());
            if *lic == class {
                let p = dir.join(file);
                anyhow::ensure!(
                    p.is_file(),
                    "{} lists {} which does not exist",
                    manifest.display(),
                    p.display()
                );
                out.push(p);
            }
        }
        anyhow::ensure!(
            !out.is_empty(),
            "no photo in {} has licence_class {class:?} (classes present: {classes:?})",
            manifest.display()
        );
    } else {
        walk(dir, &mut out)?;
        anyhow::ensure!(
            !out.is_empty(),
            "no images ({}) under {}",
            EXTENSIONS.join(", "),
            dir.display()
        );
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for e in entries {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Where a training crop lies in its photo: the photo is resized (bilinear) to cover
/// `cover_width` x `cover_height` pixels, and the crop's top-left corner is at (`x`, `y`) there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CropWindow {
    /// Left column of the crop in the resized photo, pixels.
    pub x: usize,
    /// Top row of the crop in the resized photo, pixels.
    pub y: usize,
    /// Width the photo is resized to cover.
    pub cover_width: usize,
    /// Height the photo is resized to cover.
    pub cover_height: usize,
}

/// `path` as a grey image resized (bilinear) to cover `width` x `height`: one side equals it, the
/// other is at least as long.
pub fn load_gray_cover(
    path: &Path,
    width: usize,
    height: usize,
) -> anyhow::Result<image::GrayImage> {
    let img = OwnedImage::load(path)?;
    let luma = img.to_luma();
    let gray = image::GrayImage::from_raw(img.width as u32, img.height as u32, luma)
        .with_context(|| format!("{}: bad image buffer", path.display()))?;
    let scale = (width as f64 / img.width as f64).max(height as f64 / img.height as f64);
    let (rw, rh) = (
        ((img.width as f64 * scale).round() as u32).max(width as u32),
        ((img.height as f64 * scale).round() as u32).max(height as u32),
    );
    Ok(image::imageops::resize(&gray, rw, rh, FilterType::Triangle))
}

/// Loads `path` as grey bytes, resized (bilinear) to cover `width` x `height` and centre-cropped.
pub fn load_gray(path: &Path, width: usize, height: usize) -> anyhow::Result<Vec<u8>> {
    let resized = load_gray_cover(path, width, height)?;
    let (x0, y0) = (
        (resized.width() - width as u32) / 2,
        (resized.height() - height as u32) / 2,
    );
    let crop = image::imageops::crop_imm(&resized, x0, y0, width as u32, height as u32).to_image();
    Ok(crop.into_raw())
}

/// Loads the `width` x `height` crop `window` of `path` as grey bytes (the window's position is
/// clamped to the resized photo, so a photo of another aspect ratio still gives a full crop).
pub fn load_gray_window(
    path: &Path,
    window: &CropWindow,
    width: usize,
    height: usize,
) -> anyhow::Result<Vec<u8>> {
    let resized = load_gray_cover(
        path,
        window.cover_width.max(width),
        window.cover_height.max(height),
    )?;
    let x0 = (window.x as u32).min(resized.width() - width as u32);
    let y0 = (window.y as u32).min(resized.height() - height as u32);
    let crop = image::imageops::crop_imm(&resized, x0, y0, width as u32, height as u32).to_image();
    Ok(crop.into_raw())
}

/// Drops the photos with a folder (or file) name in `names`, e.g. the held-back evaluation set.
pub fn exclude(photos: Vec<PathBuf>, names: &[String]) -> Vec<PathBuf> {
    photos
        .into_iter()
        .filter(|p| {
            !p.components()
                .any(|c| names.iter().any(|n| c.as_os_str() == n.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_filters_by_licence_and_crops() {
        let dir = std::env::temp_dir().join(format!("sp-photos-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        let img = image::GrayImage::from_fn(100, 50, |x, _| image::Luma([(x * 2) as u8]));
        img.save(dir.join("a/one.png")).unwrap();
        img.save(dir.join("two.png")).unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        assert_eq!(list_photos(&dir, None).unwrap().len(), 2);
        assert!(
            list_photos(&dir, Some("permissive"))
                .unwrap_err()
                .to_string()
                .contains("MANIFEST.tsv")
        );
        std::fs::write(
            dir.join("MANIFEST.tsv"),
            "file\tsource\tlicence_class\na/one.png\tx\tpermissive\ntwo.png\ty\tresearch-only\n",
        )
        .unwrap();
        let p = list_photos(&dir, Some("permissive")).unwrap();
        assert_eq!(p, vec![dir.join("a/one.png")]);
        let err = list_photos(&dir, Some("public-domain"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("research-only"), "{err}");
        let g = load_gray(&p[0], 40, 32).unwrap();
        assert_eq!(g.len(), 40 * 32);
        // Resized to 64x32 then cropped 12 px from the left: the ramp is increasing.
        assert!(g[39] > g[0]);
        assert!(load_gray(&dir.join("notes.txt"), 40, 32).is_err());
        // A window: the 100x50 photo resized to cover 80x32 is 80x40; on the horizontal ramp the
        // crop at x = 40 is brighter than the one at x = 0.
        let left = CropWindow {
            x: 0,
            y: 0,
            cover_width: 80,
            cover_height: 32,
        };
        let right = CropWindow { x: 40, ..left };
        let a = load_gray_window(&p[0], &left, 40, 32).unwrap();
        let b = load_gray_window(&p[0], &right, 40, 32).unwrap();
        assert_eq!(a.len(), 40 * 32);
        assert!(b[0] > a[39]);
        // A window beyond the resized photo is clamped to its edge (rows of the ramp are equal).
        let far = CropWindow {
            x: 500,
            y: 500,
            ..left
        };
        assert_eq!(load_gray_window(&p[0], &far, 40, 32).unwrap(), b);
        let all = list_photos(&dir, None).unwrap();
        assert_eq!(exclude(all, &["a".to_string()]), vec![dir.join("two.png")]);
        std::fs::remove_dir_all(dir).ok();
    }
}
