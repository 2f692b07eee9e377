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
    /// From a sequence name (`i_` / `v_` prefix of its last path component).
    pub fn from_name(name: &str) -> Self {
        let name = name.rsplit('/').next().unwrap_or(name);
        if name.starts_with("i_") {
            SequenceKind::Illumination
        } else if name.starts_with("v_") {
            SequenceKind::Viewpoint
        } else {
            SequenceKind::Other
        }
    }
}

/// One sequence: image 1 and the images k >= 2 that have a homography from image 1. Image
/// numbers need not be contiguous (an image missing from disk leaves a gap, see
/// [`load_sequence`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Name: the folder's path below the dataset folder (`bark`, or `oxford/bark` one level down).
    pub name: String,
    /// Folder.
    pub dir: PathBuf,
    /// Illumination / viewpoint.
    pub kind: SequenceKind,
    /// Image files, image 1 first.
    pub images: Vec<PathBuf>,
    /// `numbers[i]` is the image number k of `images[i]` (`numbers[0]` = 1).
    pub numbers: Vec<usize>,
    /// `homographies[i]` maps image 1 to `images[i]` (the identity for image 1).
    pub homographies: Vec<Homography>,
}

impl Sequence {
    /// A sequence of contiguously numbered images 1, 2, ... (`homographies[0]` the identity).
    pub fn contiguous(
        name: String,
        dir: PathBuf,
        images: Vec<PathBuf>,
        homographies: Vec<Homography>,
    ) -> Self {
        Sequence {
            kind: SequenceKind::from_name(&name),
            name,
            dir,
            numbers: (1..=images.len()).collect(),
            images,
            homographies,
        }
    }

    /// The file of image number `k`.
    pub fn image(&self, k: usize) -> Option<&PathBuf> {
        self.numbers
            .iter()
            .position(|&n| n == k)
            .map(|i| &self.images[i])
    }

    /// Pairs (1, k): the image numbers k >= 2 with their homographies from image 1.
    pub fn pairs(&self) -> impl Iterator<Item = (usize, &Homography)> {
        self.numbers.iter().copied().zip(&self.homographies).skip(1)
    }
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

/// The image numbers of `<k>.<ext>` files and of `H_1_<k>` files in `dir`.
fn numbered_files(dir: &Path) -> Result<(Vec<usize>, Vec<usize>), Error> {
    let (mut images, mut homs) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(k) = name
            .strip_prefix("H_1_")
            .and_then(|k| k.parse::<usize>().ok())
        {
            homs.push(k);
        } else if let Some((stem, ext)) = name.rsplit_once('.')
            && IMAGE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
            && let Ok(k) = stem.parse::<usize>()
        {
            images.push(k);
        }
    }
    for v in [&mut images, &mut homs] {
        v.sort_unstable();
        v.dedup();
    }
    Ok((images, homs))
}

/// Loads one sequence folder: image 1 and every image k >= 2 that has its `H_1_k`. An image
/// without its homography, or a homography without its image, is skipped with a warning naming
/// it (pushed to `warnings`), so the pairs evaluated are exactly the pairs found on disk. Errors
/// when image 1 is missing or no pair is left; `name` labels the sequence.
pub fn load_sequence(
    dir: &Path,
    name: &str,
    warnings: &mut Vec<String>,
) -> Result<Sequence, Error> {
    let first = find_image(dir, 1).ok_or_else(|| {
        Error::Input(format!(
            "{}: no image 1 (expected 1.ppm or 1.png, as in HPatches)",
            dir.display()
        ))
    })?;
    let (image_numbers, hom_numbers) = numbered_files(dir)?;
    let mut seq = Sequence::contiguous(
        name.to_string(),
        dir.to_path_buf(),
        vec![first],
        vec![Homography::IDENTITY],
    );
    for &k in image_numbers.iter().filter(|&&k| k >= 2) {
        let img = find_image(dir, k).expect("listed just now");
        let hp = dir.join(format!("H_1_{k}"));
        if !hom_numbers.contains(&k) {
            warnings.push(format!(
                "{name}: skipping image {}: it has no homography file {} (3x3 matrix mapping image 1 to image {k})",
                img.display(),
                hp.display()
            ));
            continue;
        }
        seq.homographies.push(read_homography(&hp)?);
        seq.images.push(img);
        seq.numbers.push(k);
    }
    for &k in hom_numbers.iter().filter(|k| !image_numbers.contains(k)) {
        warnings.push(format!(
            "{name}: skipping pair (1, {k}): {} exists but image {k} ({k}.ppm or {k}.png) does not",
            dir.join(format!("H_1_{k}")).display()
        ));
    }
    if seq.images.len() < 2 {
        return Err(Error::Input(format!(
            "{}: no pair: a sequence needs image 1 and at least one image k >= 2 with its H_1_k (e.g. 2.png and H_1_2)",
            dir.display()
        )));
    }
    Ok(seq)
}

/// A loaded dataset: its sequences and what was skipped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    /// Sequences sorted by name.
    pub sequences: Vec<Sequence>,
    /// One line per image or homography skipped (see [`load_sequence`]); print them.
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Pairs (1, k) over all sequences.
    pub fn pairs(&self) -> usize {
        self.sequences.iter().map(|s| s.images.len() - 1).sum()
    }
}

/// Folders below a dataset folder searched for sequences (e.g. `realpairs/oxford/bark`).
const MAX_DEPTH: usize = 3;

/// Loads a dataset: `dir` is one sequence (it holds `1.ppm`/`1.png`), a folder of sequences, or
/// a folder of such folders (e.g. one per source), searched up to three levels down. A folder
/// with numbered images or `H_1_k` files but no image 1 is skipped with a warning; sequences are
/// named by their path below `dir` and sorted by it.
pub fn load_dataset(dir: &Path) -> Result<Dataset, Error> {
    if !dir.is_dir() {
        return Err(Error::io_message(format!(
            "dataset folder {} does not exist (expected HPatches layout: <sequence>/1.ppm..6.ppm and H_1_2..H_1_6)",
            dir.display()
        )));
    }
    let mut data = Dataset::default();
    if find_image(dir, 1).is_some() {
        let name = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        data.sequences
            .push(load_sequence(dir, &name, &mut data.warnings)?);
        return Ok(data);
    }
    collect_sequences(dir, "", MAX_DEPTH, &mut data)?;
    if data.sequences.is_empty() {
        return Err(Error::Input(format!(
            "no HPatches sequences in {}: expected folders holding 1.ppm..6.ppm (or .png) and H_1_2..H_1_6{}",
            dir.display(),
            if data.warnings.is_empty() {
                String::new()
            } else {
                format!(" ({})", data.warnings.join("; "))
            }
        )));
    }
    data.sequences.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(data)
}

fn collect_sequences(
    dir: &Path,
    prefix: &str,
    depth: usize,
    data: &mut Dataset,
) -> Result<(), Error> {
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        let name = format!(
            "{prefix}{}",
            sub.file_name().unwrap_or_default().to_string_lossy()
        );
        if find_image(&sub, 1).is_some() {
            data.sequences
                .push(load_sequence(&sub, &name, &mut data.warnings)?);
            continue;
        }
        let (images, homs) = numbered_files(&sub)?;
        if !images.is_empty() || !homs.is_empty() {
            data.warnings.push(format!(
                "{name}: skipping {}: it has numbered images or H_1_k files but no image 1 (1.ppm or 1.png)",
                sub.display()
            ));
        } else if depth > 1 {
            collect_sequences(&sub, &format!("{name}/"), depth - 1, data)?;
        }
    }
    Ok(())
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
        let seqs = load_dataset(&dir).unwrap().sequences;
        assert_eq!(seqs.len(), 1);
        assert_eq!(seqs[0].images.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gaps_are_skipped_by_name_and_sources_nest() {
        // realpairs-like: root/src/seq with 1, 2, 4, 5 (3 missing), H_1_2..H_1_5, and an
        // image 6 without H_1_6; a folder with images but no image 1.
        let root = std::env::temp_dir().join(format!("sp-eval-gaps-{}", std::process::id()));
        let seq = root.join("oxford/bark");
        std::fs::create_dir_all(&seq).unwrap();
        std::fs::create_dir_all(root.join("evd/cat")).unwrap();
        let img = image::GrayImage::from_pixel(32, 32, image::Luma([7]));
        for k in [1, 2, 4, 5, 6] {
            img.save(seq.join(format!("{k}.png"))).unwrap();
        }
        for k in 2..=5 {
            std::fs::write(seq.join(format!("H_1_{k}")), "1 0 0 0 1 0 0 0 1").unwrap();
        }
        img.save(root.join("evd/cat/2.png")).unwrap();
        let data = load_dataset(&root).unwrap();
        assert_eq!(data.sequences.len(), 1);
        let s = &data.sequences[0];
        assert_eq!(s.name, "oxford/bark");
        assert_eq!(s.numbers, vec![1, 2, 4, 5]);
        assert_eq!(s.pairs().map(|p| p.0).collect::<Vec<_>>(), vec![2, 4, 5]);
        assert_eq!(s.image(4), Some(&seq.join("4.png")));
        assert_eq!(data.pairs(), 3);
        let w = data.warnings.join("\n");
        assert_eq!(data.warnings.len(), 3, "{w}");
        assert!(w.contains("pair (1, 3)") && w.contains("H_1_3"), "{w}");
        assert!(w.contains("6.png") && w.contains("H_1_6"), "{w}");
        assert!(w.contains("evd/cat") && w.contains("no image 1"), "{w}");
        // The sequence folder itself loads the same way.
        let one = load_dataset(&seq).unwrap();
        assert_eq!(one.sequences[0].numbers, vec![1, 2, 4, 5]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
