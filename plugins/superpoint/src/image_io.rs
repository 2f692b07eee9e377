//! Reading image files (PNG, JPEG, PNM) into [`Frame`]s.

use std::path::Path;

use crate::Error;
use crate::frame::{Frame, PixelLayout};

/// An image owned in memory: grey images stay one byte per pixel, others become RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedImage {
    /// Pixel bytes, rows packed.
    pub data: Vec<u8>,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// [`PixelLayout::Gray`] or [`PixelLayout::RGB`].
    pub layout: PixelLayout,
}

impl OwnedImage {
    /// Loads `path`; alpha is dropped.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let img = image::ImageReader::open(path)
            .map_err(|e| Error::io(format!("cannot open image {}", path.display()), e))?
            .with_guessed_format()
            .map_err(|e| Error::io(format!("cannot read image {}", path.display()), e))?
            .decode()
            .map_err(|e| Error::io(format!("cannot decode image {}", path.display()), e))?;
        let (width, height) = (img.width() as usize, img.height() as usize);
        let (data, layout) = match img.color() {
            image::ColorType::L8
            | image::ColorType::La8
            | image::ColorType::L16
            | image::ColorType::La16 => (img.into_luma8().into_raw(), PixelLayout::Gray),
            _ => (img.into_rgb8().into_raw(), PixelLayout::RGB),
        };
        Ok(OwnedImage {
            data,
            width,
            height,
            layout,
        })
    }

    /// A grey image from luma bytes.
    pub fn gray(data: Vec<u8>, width: usize, height: usize) -> Self {
        OwnedImage {
            data,
            width,
            height,
            layout: PixelLayout::Gray,
        }
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.layout.plane_size(0, self.width, self.height).0
    }

    /// A borrowed frame (checks the minimum size).
    pub fn frame(&self) -> Result<Frame<'_>, Error> {
        Frame::new(
            &self.data,
            self.width,
            self.height,
            self.stride(),
            self.layout,
        )
    }

    /// BT.601 luma bytes (a copy for colour images).
    pub fn to_luma(&self) -> Vec<u8> {
        match self.layout {
            PixelLayout::Packed {
                bytes_per_pixel,
                r,
                g,
                b,
                ..
            } => self
                .data
                .chunks_exact(bytes_per_pixel)
                .map(|p| (crate::frame::luma(p[r], p[g], p[b]) * 255.0).round() as u8)
                .collect(),
            // Grey, or the luma plane of a planar layout.
            _ => self.data[..self.width * self.height].to_vec(),
        }
    }
}
