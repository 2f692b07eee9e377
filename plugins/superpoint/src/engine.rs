//! ONNX Runtime inference engine.
//!
//! ONNX Runtime allows one environment per process, so it lives in a global [`OnceLock`]; every
//! [`Engine`] (one per element instance) builds its session on it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::Error;
use crate::onnx::{
    self, DESCRIPTOR_DIM, INPUT_IMAGE, ModelInfo, OUTPUT_DESCRIPTORS, OUTPUT_SCORES,
};

/// Where the computation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// A CUDA GPU: with the `torch` feature the libtorch engine ([`crate::torch`], through
    /// [`crate::Detector`] and batch groups), else ONNX Runtime's CUDA execution provider (needs
    /// the `onnxruntime-gpu` libraries).
    Cuda,
}

/// Options of an [`Engine`].
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// Execution provider asked for.
    pub provider: Provider,
    /// CUDA device index.
    pub device_id: i32,
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            provider: Provider::Cpu,
            device_id: 0,
            threads: 0,
        }
    }
}

/// Path of the ONNX Runtime shared library, searched in the order of [`crate::locate`]:
/// `$ORT_DYLIB_PATH`, beside the loaded plugin or executable (`../gst-superpoint/`, as the `.deb`
/// installs it), the user's data directory (`~/.local/share/gst-superpoint/lib/`), the source
/// tree's `.deps/onnxruntime/`, else the system's `libonnxruntime.so`.
pub fn ort_library_path() -> PathBuf {
    crate::locate::find_ort_library(&crate::locate::SearchEnv::from_process())
}

/// Where [`ort_library_path`] looked, for error messages.
fn ort_search_note() -> String {
    let env = crate::locate::SearchEnv::from_process();
    if env.ort_dylib_path.is_some() {
        return "it was set by ORT_DYLIB_PATH: point it at libonnxruntime.so, or unset it to search \
                the installed locations"
            .into();
    }
    let list: Vec<String> = crate::locate::ort_library_candidates(&env)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "searched ORT_DYLIB_PATH (unset), {}, then the system's {}; set ORT_DYLIB_PATH to \
         libonnxruntime.so, install the package, or run scripts/setup.sh in the source tree \
         (it puts the library in .deps/onnxruntime/)",
        list.join(", "),
        crate::locate::ORT_SYSTEM_LIBRARY
    )
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment() -> Result<&'static ort::environment::Environment, Error> {
    ENVIRONMENT
        .get_or_init(|| {
            let lib = ort_library_path();
            if lib.components().count() > 1 && !lib.exists() {
                return Err(format!(
                    "ONNX Runtime library {} does not exist: {}",
                    lib.display(),
                    ort_search_note()
                ));
            }
            let builder = ort::init_from(&lib).map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {}: {e}. {}",
                    lib.display(),
                    ort_search_note()
                )
            })?;
            builder
                .with_name("superpoint")
                .build()
                .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))
        })
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))
}

/// The sizes a model's `image` input `[N, 1, H, W]` fixes: `None` for a dynamic (symbolic)
/// dimension. Models exported for TensorRT or NPUs often fix all of them (e.g. `1x1x240x320`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputShape {
    /// Fixed batch size `N`.
    pub batch: Option<usize>,
    /// Fixed height `H` in pixels.
    pub height: Option<usize>,
    /// Fixed width `W` in pixels.
    pub width: Option<usize>,
}

impl InputShape {
    /// From the input dimensions ONNX Runtime reports (negative = dynamic).
    pub fn from_dims(dims: &[i64]) -> Self {
        let fixed = |i: usize| {
            dims.get(i)
                .and_then(|&d| usize::try_from(d).ok())
                .filter(|&d| d > 0)
        };
        InputShape {
            batch: fixed(0),
            height: fixed(2),
            width: fixed(3),
        }
    }

    /// The network input size `(width, height)` for a requested inference size (`(0, 0)` =
    /// native frame size): the model's fixed size when it fixes both sides and none is
    /// requested, else the request. Errors (naming `model`, the model's size and the properties
    /// `inference-width` / `inference-height` to set) when a request conflicts with a fixed side,
    /// when only one side is fixed and no size is requested, or when a fixed side is not a
    /// multiple of 8 of at least 16 pixels.
    pub fn inference_size(
        &self,
        requested: (usize, usize),
        model: &Path,
    ) -> Result<(usize, usize), Error> {
        let fixed = [self.width, self.height];
        if fixed == [None, None] {
            return Ok(requested);
        }
        let shown = |v: Option<usize>| v.map_or("?".to_string(), |v| v.to_string());
        let size = format!("1x1x{}x{}", shown(self.height), shown(self.width));
        if fixed
            .iter()
            .flatten()
            .any(|&v| v < crate::MIN_FRAME_SIDE || !v.is_multiple_of(8))
        {
            return Err(Error::Model(format!(
                "{} has a fixed input of {size}, which SuperPoint cannot run: fixed sides must be multiples of 8 of at least {}; export the model with another size or dynamic height and width",
                model.display(),
                crate::MIN_FRAME_SIDE
            )));
        }
        // Frames are resized to the request rounded down to multiples of 8 (Frame::geometry).
        let rounded = (requested.0 / 8 * 8, requested.1 / 8 * 8);
        let wanted = match (self.width, self.height) {
            (Some(w), Some(h)) if requested == (0, 0) => return Ok((w, h)),
            (w, h) => (w.unwrap_or(rounded.0), h.unwrap_or(rounded.1)),
        };
        if requested != (0, 0) && rounded == wanted {
            return Ok(requested);
        }
        let set = match (self.width, self.height) {
            (Some(w), Some(h)) => {
                format!("inference-width={w} and inference-height={h} (or both 0 to resize to it)")
            }
            (Some(w), None) => {
                format!("inference-width={w} and inference-height to a multiple of 8")
            }
            (None, _) => format!(
                "inference-height={} and inference-width to a multiple of 8",
                shown(self.height)
            ),
        };
        let asked = if requested == (0, 0) {
            "no inference size is set".to_string()
        } else {
            format!("{}x{} is requested", requested.0, requested.1)
        };
        Err(Error::Config(format!(
            "{} has a fixed input of {size} (NxCxHxW) but {asked}: set {set}",
            model.display()
        )))
    }

    /// The note to show once when frames are resized to the model's fixed size because no
    /// inference size is requested; `None` otherwise.
    pub fn resize_note(&self, requested: (usize, usize), model: &Path) -> Option<String> {
        match (self.width, self.height) {
            (Some(w), Some(h)) if requested == (0, 0) => Some(format!(
                "{} has a fixed input of {w}x{h}: frames are resized to {w}x{h} for the network (as inference-width={w} inference-height={h}); keypoints stay in frame pixels",
                model.display()
            )),
            _ => None,
        }
    }

    /// Errors when the model's fixed batch size cannot run batches of up to `batch_size` frames
    /// (only a batch of 1 or a dynamic batch runs single frames); the message names `model` and
    /// the `batch-size` / `batch-group` properties.
    pub fn check_batch(&self, batch_size: usize, model: &Path) -> Result<(), Error> {
        match self.batch {
            Some(b) if b != 1 => Err(Error::Model(format!(
                "{} has a fixed batch size of {b}; frames run one at a time (or in batches of up to batch-size): export the model with a batch of 1 or a dynamic batch",
                model.display()
            ))),
            Some(_) if batch_size > 1 => Err(Error::Config(format!(
                "{} has a fixed batch size of 1 and cannot run batches of batch-size={batch_size}: set batch-size=1, or leave batch-group unset, or export the model with a dynamic batch",
                model.display()
            ))),
            _ => Ok(()),
        }
    }
}

/// A loaded SuperPoint (or MagicPoint) model.
pub struct Engine {
    session: Session,
    info: ModelInfo,
    has_descriptors: bool,
    input_shape: InputShape,
    path: PathBuf,
    provider: Provider,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.path)
            .field("model_id", &self.info.model_id)
            .field("provider", &self.provider)
            .finish()
    }
}

/// Output tensors of one forward pass, borrowed from the runtime.
#[derive(Debug)]
pub struct NetworkOutput<'a> {
    /// Batch size.
    pub batch: usize,
    /// Height of the input (multiple of 8).
    pub height: usize,
    /// Width of the input (multiple of 8).
    pub width: usize,
    /// `[N, H, W]` heatmap.
    pub scores: &'a [f32],
    /// `[N, 256, H/8, W/8]` unit-norm dense descriptors (empty for a detector-only model).
    pub descriptors: &'a [f32],
}

impl Engine {
    /// Loads the model at `path`, checking it follows the contract in [`crate::onnx`].
    pub fn new(path: &Path, options: &EngineOptions) -> Result<Self, Error> {
        if !path.exists() {
            return Err(Error::Model(
                match crate::locate::missing_model_note(path) {
                    Some(note) => format!("model file {} does not exist: {note}", path.display()),
                    None => format!(
                        "model file {} does not exist (set the `model` property / --model to a SuperPoint ONNX file)",
                        path.display()
                    ),
                },
            ));
        }
        // Decoding the protobuf first gives a clearer message than the runtime for non-ONNX files.
        let info = onnx::read_model_info(path)?;
        let env = environment()?;
        let mut builder = Session::builder(env)
            .map_err(|e| Error::Runtime(format!("cannot create session builder: {e}")))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| Error::Runtime(format!("cannot set optimisation level: {e}")))?;
        if options.threads > 0 {
            builder = builder
                .with_intra_threads(options.threads)
                .map_err(|e| Error::Runtime(format!("cannot set threads: {e}")))?;
        }
        if options.provider == Provider::Cuda {
            builder = register_cuda(builder, options.device_id)?;
        }
        let provider = options.provider;
        let session = builder.commit_from_file(path).map_err(|e| {
            Error::Model(format!(
                "{} is not a usable ONNX model: {e}",
                path.display()
            ))
        })?;
        let (has_descriptors, input_shape) = check_contract(&session, path)?;
        Ok(Engine {
            session,
            info,
            has_descriptors,
            input_shape,
            path: path.to_path_buf(),
            provider,
        })
    }

    /// Model metadata.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether the model has the descriptor head.
    pub fn has_descriptors(&self) -> bool {
        self.has_descriptors
    }

    /// The sizes the model's input fixes ([`InputShape`]).
    pub fn input_shape(&self) -> InputShape {
        self.input_shape
    }

    /// The provider actually in use.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the network on `images` (`[batch, 1, height, width]`, values in [0, 1]) and hands the
    /// outputs to `consume` without copying them.
    pub fn run<R>(
        &mut self,
        images: &[f32],
        batch: usize,
        height: usize,
        width: usize,
        consume: impl FnOnce(NetworkOutput<'_>) -> R,
    ) -> Result<R, Error> {
        if !height.is_multiple_of(8) || !width.is_multiple_of(8) || height < 8 || width < 8 {
            return Err(Error::Input(format!(
                "network input must be a positive multiple of 8 in each side, got {width}x{height}"
            )));
        }
        if images.len() != batch * height * width {
            return Err(Error::Input(format!(
                "expected {} input values for {batch}x1x{height}x{width}, got {}",
                batch * height * width,
                images.len()
            )));
        }
        let input = TensorRef::from_array_view(([batch, 1, height, width], images))
            .map_err(|e| Error::Runtime(format!("cannot wrap input tensor: {e}")))?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_IMAGE => input])
            .map_err(|e| Error::Runtime(format!("inference failed: {e}")))?;
        let (_, scores) = outputs[OUTPUT_SCORES]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::Runtime(format!("bad scores output: {e}")))?;
        let descriptors: &[f32] = if self.has_descriptors {
            outputs[OUTPUT_DESCRIPTORS]
                .try_extract_tensor::<f32>()
                .map_err(|e| Error::Runtime(format!("bad descriptors output: {e}")))?
                .1
        } else {
            &[]
        };
        if scores.len() != batch * height * width
            || (self.has_descriptors
                && descriptors.len() != batch * DESCRIPTOR_DIM * (height / 8) * (width / 8))
        {
            return Err(Error::Model(format!(
                "{}: outputs have unexpected sizes ({} scores, {} descriptor values for {batch}x{height}x{width})",
                self.path.display(),
                scores.len(),
                descriptors.len()
            )));
        }
        Ok(consume(NetworkOutput {
            batch,
            height,
            width,
            scores,
            descriptors,
        }))
    }
}

/// Registers ONNX Runtime's CUDA execution provider, failing (instead of ONNX Runtime's silent
/// CPU fallback) when it cannot load, so callers can warn and choose.
fn register_cuda(
    builder: ort::session::builder::SessionBuilder,
    device_id: i32,
) -> Result<ort::session::builder::SessionBuilder, Error> {
    use ort::ep::{CUDA, ExecutionProvider};
    let lib = ort_library_path();
    match CUDA::is_available() {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::ProviderUnavailable(format!(
                "the ONNX Runtime library {} has no CUDA execution provider: point ORT_DYLIB_PATH at the \
                 libonnxruntime.so of the onnxruntime-gpu wheel (with libonnxruntime_providers_cuda.so beside it)",
                lib.display()
            )));
        }
        Err(e) => {
            return Err(Error::ProviderUnavailable(format!(
                "cannot query execution providers: {e}"
            )));
        }
    }
    builder
        .with_execution_providers([CUDA::default()
            .with_device_id(device_id)
            .build()
            .error_on_failure()])
        .map_err(|e| {
            Error::ProviderUnavailable(format!(
                "the CUDA execution provider cannot load on device {device_id}: {e} \
                 (needs an NVIDIA driver, CUDA 13 and cuDNN libraries on LD_LIBRARY_PATH)"
            ))
        })
}

fn tensor_rank(t: &ValueType) -> Option<(TensorElementType, Vec<i64>)> {
    match t {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.iter().copied().collect())),
        _ => None,
    }
}

/// `dims` as `1x?x240x320` (`?` for a dynamic dimension).
fn shape_text(dims: &[i64]) -> String {
    let dims: Vec<String> = dims
        .iter()
        .map(|&d| if d < 0 { "?".into() } else { d.to_string() })
        .collect();
    dims.join("x")
}

/// What a model input or output is, in words: `float32 1x?x240x320`, or `not a tensor`.
fn describe(t: &ValueType) -> String {
    match tensor_rank(t) {
        Some((ty, dims)) => format!("{} {}", format!("{ty:?}").to_lowercase(), shape_text(&dims)),
        None => "not a tensor".into(),
    }
}

/// Checks inputs/outputs; returns whether the descriptor output is present, and the sizes the
/// input fixes.
fn check_contract(session: &Session, path: &Path) -> Result<(bool, InputShape), Error> {
    let expected = "expected input `image` float32 [N,1,H,W] and outputs `scores` float32 [N,H,W] \
                    and `descriptors` float32 [N,256,H/8,W/8]";
    let bad = |what: String| {
        Error::Model(format!(
            "{} does not look like a SuperPoint model: {what}; {expected}",
            path.display()
        ))
    };
    let inputs = session.inputs();
    if inputs.len() != 1 || inputs[0].name() != INPUT_IMAGE {
        let names: Vec<_> = inputs.iter().map(|i| format!("`{}`", i.name())).collect();
        return Err(bad(format!("inputs are {}", names.join(", "))));
    }
    let input_shape = match tensor_rank(inputs[0].dtype()) {
        Some((TensorElementType::Float32, dims))
            if dims.len() == 4 && (dims[1] == 1 || dims[1] < 0) =>
        {
            InputShape::from_dims(&dims)
        }
        _ => {
            return Err(bad(format!(
                "input `image` is {}",
                describe(inputs[0].dtype())
            )));
        }
    };
    let outputs = session.outputs();
    let find = |name: &str| outputs.iter().find(|o| o.name() == name);
    match find(OUTPUT_SCORES).map(|o| tensor_rank(o.dtype())) {
        Some(Some((TensorElementType::Float32, dims))) if dims.len() == 3 => {}
        Some(_) => {
            let o = find(OUTPUT_SCORES).expect("found");
            return Err(bad(format!("output `scores` is {}", describe(o.dtype()))));
        }
        None => {
            let names: Vec<_> = outputs.iter().map(|o| format!("`{}`", o.name())).collect();
            return Err(bad(format!(
                "no `scores` output (outputs are {})",
                names.join(", ")
            )));
        }
    }
    let has_descriptors = match find(OUTPUT_DESCRIPTORS) {
        Some(o) => match tensor_rank(o.dtype()) {
            Some((TensorElementType::Float32, dims))
                if dims.len() == 4 && (dims[1] == DESCRIPTOR_DIM as i64 || dims[1] < 0) =>
            {
                true
            }
            _ => {
                return Err(bad(format!(
                    "output `descriptors` is {}",
                    describe(o.dtype())
                )));
            }
        },
        None => false,
    };
    Ok((has_descriptors, input_shape))
}

#[cfg(test)]
mod input_shape_tests {
    use super::*;

    #[test]
    fn fixed_sides_resize_or_name_the_properties() {
        let m = Path::new("m.onnx");
        let dynamic = InputShape::from_dims(&[-1, 1, -1, -1]);
        assert_eq!(dynamic, InputShape::default());
        assert_eq!(dynamic.inference_size((0, 0), m), Ok((0, 0)));
        assert_eq!(dynamic.resize_note((0, 0), m), None);
        let fixed = InputShape::from_dims(&[1, 1, 240, 320]);
        assert_eq!(fixed.inference_size((0, 0), m), Ok((320, 240)));
        assert_eq!(fixed.inference_size((325, 247), m), Ok((325, 247)));
        assert!(fixed.resize_note((0, 0), m).is_some());
        assert_eq!(fixed.resize_note((320, 240), m), None);
        assert_eq!(
            InputShape::from_dims(&[-1, 1, 240, -1])
                .inference_size((0, 0), m)
                .unwrap_err()
                .to_string(),
            "m.onnx has a fixed input of 1x1x240x? (NxCxHxW) but no inference size is set: set inference-height=240 and inference-width to a multiple of 8"
        );
        assert_eq!(
            InputShape::from_dims(&[-1, 1, 240, -1]).inference_size((640, 240), m),
            Ok((640, 240))
        );
        assert_eq!(
            InputShape::from_dims(&[1, 1, 100, 320])
                .inference_size((0, 0), m)
                .unwrap_err()
                .to_string(),
            "m.onnx has a fixed input of 1x1x100x320, which SuperPoint cannot run: fixed sides must be multiples of 8 of at least 16; export the model with another size or dynamic height and width"
        );
    }

    #[test]
    fn fixed_batches() {
        let m = Path::new("m.onnx");
        let one = InputShape::from_dims(&[1, 1, -1, -1]);
        assert_eq!(one.check_batch(1, m), Ok(()));
        assert!(matches!(one.check_batch(4, m), Err(Error::Config(_))));
        let four = InputShape::from_dims(&[4, 1, -1, -1]);
        assert!(matches!(four.check_batch(1, m), Err(Error::Model(_))));
        assert_eq!(InputShape::default().check_batch(8, m), Ok(()));
    }
}
