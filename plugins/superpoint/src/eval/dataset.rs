//! HPatches-layout datasets: sequences of images with the homographies `H_1_k`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::geometry::Homography;

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
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    parse_homography(&text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Writes a homography as HPatches text (3 lines of 3 numbers, full precision).
pub fn write_homography(path: &Path, h: &Homography) -> Result<(), Error> {
    let m = &h.0;
    let text = format!(
        "{:e} {:e} {:e}\n{:e} {:e} {:e}\n{:e} {:e} {:e}\n",
        m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]
    );
    std::fs::write(path, text).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
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
        return Err(Error::io_message(format!(
            "dataset folder {} does not exist (expected HPatches layout: <sequence>/1.ppm..6.ppm and H_1_2..H_1_6)",
            dir.display()
        )));
    }
    if find_image(dir, 1).is_some() {
        return Ok(vec![load_sequence(dir)?]);
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?
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
}
