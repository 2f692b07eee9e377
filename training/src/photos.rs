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

/// Loads `path` as grey bytes, resized (bilinear) to cover `width` x `height` and centre-cropped.
pub fn load_gray(path: &Path, width: usize, height: usize) -> anyhow::Result<Vec<u8>> {
    let img = OwnedImage::load(path)?;
    let luma = img.to_luma();
    let gray = image::GrayImage::from_raw(img.width as u32, img.height as u32, luma)
        .with_context(|| format!("{}: bad image buffer", path.display()))?;
    let scale = (width as f64 / img.width as f64).max(height as f64 / img.height as f64);
    let (rw, rh) = (
        ((img.width as f64 * scale).round() as u32).max(width as u32),
        ((img.height as f64 * scale).round() as u32).max(height as u32),
    );
    let resized = image::imageops::resize(&gray, rw, rh, FilterType::Triangle);
    let (x0, y0) = ((rw - width as u32) / 2, (rh - height as u32) / 2);
    let crop = image::imageops::crop_imm(&resized, x0, y0, width as u32, height as u32).to_image();
    Ok(crop.into_raw())
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
        std::fs::remove_dir_all(dir).ok();
    }
}
