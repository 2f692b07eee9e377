//! One model instance serving several streams in batches.
//!
//! Streams that join the same named group share a worker thread that owns the [`Engine`]. The
//! worker takes the first waiting frame, then waits up to `max_latency` for more frames of the same
//! network input size (up to `batch_size`), runs them as one `[N, 1, H, W]` batch and answers each
//! stream with its own keypoints. Larger batches raise throughput on a GPU; the price is up to
//! `max_latency` of added latency per frame when fewer than `batch_size` streams are active.
//!
//! With the `torch` feature, a group with `provider=cuda` runs the libtorch engine
//! ([`crate::torch::TorchDetector`]) and its post-processing on the device, as [`Detector`]
//! does.
//!
//! [`Detector`]: crate::Detector

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::Error;
use crate::detector::{DecodeScratch, Detections, DetectorConfig, decode};
use crate::engine::{Engine, EngineOptions, InputShape};
use crate::frame::{Frame, InputGeometry};
use crate::onnx::{CELL, DESCRIPTOR_DIM, ModelInfo};

/// How a group batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchPolicy {
    /// Most frames per forward pass.
    pub batch_size: usize,
    /// Longest time the first frame of a batch waits for others.
    pub max_latency: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            batch_size: 4,
            max_latency: Duration::from_millis(10),
        }
    }
}

struct Request {
    input: Vec<f32>,
    geo: InputGeometry,
    frame_size: (usize, usize),
    config: DetectorConfig,
    reply: SyncSender<Result<(Detections, Vec<f32>), Error>>,
}

struct Shared {
    tx: Mutex<Sender<Request>>,
    model: PathBuf,
    options: EngineOptions,
    policy: BatchPolicy,
    has_descriptors: bool,
    info: ModelInfo,
    input_shape: InputShape,
    stats: Arc<Stats>,
}

/// Counters of a group's worker.
#[derive(Debug, Default)]
struct Stats {
    frames: AtomicU64,
    batches: AtomicU64,
}

/// A stream's handle on a batching group. Cheap to hold; the worker stops when the last handle of
/// its group is dropped.
pub struct BatchedDetector {
    shared: Arc<Shared>,
    config: DetectorConfig,
    /// The input buffer travels to the worker and back, so steady state allocates nothing.
    input: Vec<f32>,
}

impl std::fmt::Debug for BatchedDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedDetector")
            .field("model", &self.shared.model)
            .field("policy", &self.shared.policy)
            .finish()
    }
}

/// What a group's worker runs the network with.
// One per group: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum WorkerEngine {
    Ort(Engine),
    #[cfg(feature = "torch")]
    Torch(Box<crate::torch::TorchDetector>),
}

impl WorkerEngine {
    /// ONNX Runtime, or the libtorch engine for `provider=cuda` with the `torch` feature
    /// ([`Error::ProviderUnavailable`] when libtorch sees no GPU).
    fn new(model: &Path, options: &EngineOptions) -> Result<Self, Error> {
        #[cfg(feature = "torch")]
        if options.provider == crate::Provider::Cuda {
            use crate::torch::{TorchDetector, TorchOptions};
            let torch = TorchOptions::from_engine_options(options)?;
            let detector = TorchDetector::new(model, &torch, DetectorConfig::default())?;
            return Ok(WorkerEngine::Torch(Box::new(detector)));
        }
        Engine::new(model, options).map(WorkerEngine::Ort)
    }

    fn has_descriptors(&self) -> bool {
        match self {
            WorkerEngine::Ort(e) => e.has_descriptors(),
            #[cfg(feature = "torch")]
            WorkerEngine::Torch(t) => t.has_descriptors(),
        }
    }

    /// The sizes the model's input fixes (none for the libtorch engine).
    fn input_shape(&self) -> InputShape {
        match self {
            WorkerEngine::Ort(e) => e.input_shape(),
            #[cfg(feature = "torch")]
            WorkerEngine::Torch(_) => InputShape::default(),
        }
    }

    fn info(&self) -> &ModelInfo {
        match self {
            WorkerEngine::Ort(e) => e.info(),
            #[cfg(feature = "torch")]
            WorkerEngine::Torch(t) => t.model_info(),
        }
    }
}

fn groups() -> &'static Mutex<HashMap<String, Weak<Shared>>> {
    static GROUPS: std::sync::OnceLock<Mutex<HashMap<String, Weak<Shared>>>> =
        std::sync::OnceLock::new();
    GROUPS.get_or_init(Default::default)
}

impl BatchedDetector {
    /// Joins group `name`, starting its worker with `model`/`options`/`policy` when the group
    /// does not exist yet. Joining an existing group with another model, provider or policy is an
    /// error (the group runs one model instance).
    pub fn join(
        name: &str,
        model: &Path,
        options: &EngineOptions,
        policy: BatchPolicy,
        config: DetectorConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        if !config.scales.is_identity() {
            return Err(Error::Config(format!(
                "scales {} cannot be used with a batch group (batched frames run at one scale); \
                 set scales to 1 or leave batch-group unset",
                config.scales
            )));
        }
        if policy.batch_size == 0 {
            return Err(Error::Config("batch-size must be at least 1".into()));
        }
        let mut groups = groups().lock().expect("group registry");
        groups.retain(|_, w| w.strong_count() > 0);
        let shared = match groups.get(name).and_then(Weak::upgrade) {
            Some(s) => {
                if s.model != model || s.options != *options || s.policy != policy {
                    return Err(Error::Config(format!(
                        "batch group {name:?} already runs {} ({:?}, batch-size {}, max-latency {:?}); \
                         every member must use the same model, provider and batching settings",
                        s.model.display(),
                        s.options.provider,
                        s.policy.batch_size,
                        s.policy.max_latency
                    )));
                }
                s
            }
            None => {
                let engine = WorkerEngine::new(model, options)?;
                engine.input_shape().check_batch(policy.batch_size, model)?;
                let (tx, rx) = mpsc::channel();
                let stats = Arc::new(Stats::default());
                let worker_stats = stats.clone();
                let shared = Arc::new(Shared {
                    tx: Mutex::new(tx),
                    model: model.to_path_buf(),
                    options: options.clone(),
                    policy,
                    has_descriptors: engine.has_descriptors(),
                    info: engine.info().clone(),
                    input_shape: engine.input_shape(),
                    stats,
                });
                std::thread::Builder::new()
                    .name(format!("superpoint-batch-{name}"))
                    .spawn(move || worker(engine, rx, policy, &worker_stats))
                    .map_err(|e| Error::Runtime(format!("cannot start batch worker: {e}")))?;
                groups.insert(name.to_string(), Arc::downgrade(&shared));
                shared
            }
        };
        if config.descriptors && !shared.has_descriptors {
            return Err(Error::Model(format!(
                "{} has no `descriptors` output",
                shared.model.display()
            )));
        }
        shared
            .input_shape
            .inference_size(config.inference_size(), &shared.model)?;
        Ok(BatchedDetector {
            shared,
            config,
            input: Vec::new(),
        })
    }

    /// Metadata of the group's model.
    pub fn model_info(&self) -> &ModelInfo {
        &self.shared.info
    }

    /// Frames and forward passes run by the group so far (frames / batches = mean batch size).
    pub fn group_stats(&self) -> (u64, u64) {
        let s = &self.shared.stats;
        (
            s.frames.load(Ordering::Relaxed),
            s.batches.load(Ordering::Relaxed),
        )
    }

    /// Changes this stream's detection settings.
    pub fn set_config(&mut self, config: DetectorConfig) -> Result<(), Error> {
        config.validate()?;
        if config.descriptors && !self.shared.has_descriptors {
            return Err(Error::Model("the model has no descriptor output".into()));
        }
        self.shared
            .input_shape
            .inference_size(config.inference_size(), &self.shared.model)?;
        self.config = config;
        Ok(())
    }

    /// The note to show once when frames are resized to the model's fixed input size because
    /// no inference size is set ([`InputShape::resize_note`]); `None` otherwise.
    pub fn input_note(&self) -> Option<String> {
        self.shared
            .input_shape
            .resize_note(self.config.inference_size(), &self.shared.model)
    }

    /// Current detection settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Detects keypoints in `frame` through the group's worker (blocks until the batch ran).
    pub fn detect(&mut self, frame: &Frame<'_>, out: &mut Detections) -> Result<(), Error> {
        let target = self
            .shared
            .input_shape
            .inference_size(self.config.inference_size(), &self.shared.model)?;
        let geo = frame.geometry(target);
        frame.fill_input(&geo, &mut self.input);
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request {
            input: std::mem::take(&mut self.input),
            geo,
            frame_size: (frame.width, frame.height),
            config: self.config,
            reply,
        };
        self.shared
            .tx
            .lock()
            .expect("sender")
            .send(request)
            .map_err(|_| Error::Runtime("batch worker stopped".into()))?;
        let (detections, input) = answer
            .recv()
            .map_err(|_| Error::Runtime("batch worker stopped".into()))??;
        self.input = input;
        *out = detections;
        Ok(())
    }
}

fn worker(mut engine: WorkerEngine, rx: Receiver<Request>, policy: BatchPolicy, stats: &Stats) {
    let mut batch_input: Vec<f32> = Vec::new();
    let mut scratch = DecodeScratch::default();
    let mut pending: Vec<Request> = Vec::new();
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(r) => pending.push(r),
                Err(_) => return, // every handle dropped
            }
        }
        let deadline = Instant::now() + policy.max_latency;
        let size = (pending[0].geo.width, pending[0].geo.height);
        let mut batch: Vec<Request> = Vec::with_capacity(policy.batch_size);
        // Frames of another size wait for the next batch.
        let mut others = Vec::new();
        for r in pending.drain(..) {
            if (r.geo.width, r.geo.height) == size && batch.len() < policy.batch_size {
                batch.push(r);
            } else {
                others.push(r);
            }
        }
        pending = others;
        while batch.len() < policy.batch_size {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(r) if (r.geo.width, r.geo.height) == size => batch.push(r),
                Ok(r) => pending.push(r),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        stats
            .frames
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        run_batch(&mut engine, batch, &mut batch_input, &mut scratch);
    }
}

fn run_batch(
    engine: &mut WorkerEngine,
    batch: Vec<Request>,
    batch_input: &mut Vec<f32>,
    scratch: &mut DecodeScratch,
) {
    // Without the `torch` feature the match has one arm.
    #[allow(clippy::infallible_destructuring_match)]
    let engine = match engine {
        WorkerEngine::Ort(e) => e,
        #[cfg(feature = "torch")]
        WorkerEngine::Torch(t) => return run_torch_batch(t, batch),
    };
    let (w, h) = (batch[0].geo.width, batch[0].geo.height);
    let n = batch.len();
    batch_input.clear();
    for r in &batch {
        batch_input.extend_from_slice(&r.input);
    }
    let plane = w * h;
    let dplane = DESCRIPTOR_DIM * (h / CELL) * (w / CELL);
    let path = engine.path().to_path_buf();
    let results: Result<Vec<Detections>, Error> = engine
        .run(batch_input, n, h, w, |net| {
            batch
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut out = Detections::default();
                    let desc = if net.descriptors.is_empty() {
                        &[][..]
                    } else {
                        &net.descriptors[i * dplane..(i + 1) * dplane]
                    };
                    decode(
                        &net.scores[i * plane..(i + 1) * plane],
                        desc,
                        &r.geo,
                        r.frame_size,
                        &r.config,
                        scratch,
                        &mut out,
                    )
                    .map(|()| out)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .and_then(|decoded| decoded.map_err(|e| e.into_error(&path)));
    match results {
        Ok(dets) => {
            for (r, d) in batch.into_iter().zip(dets) {
                let _ = r.reply.send(Ok((d, r.input)));
            }
        }
        Err(e) => {
            for r in batch {
                let _ = r.reply.send(Err(e.clone()));
            }
        }
    }
}

/// A batch through the libtorch engine: one forward pass per run of consecutive requests with the
/// same input geometry, frame size and settings (usually the whole batch).
#[cfg(feature = "torch")]
fn run_torch_batch(engine: &mut crate::torch::TorchDetector, batch: Vec<Request>) {
    let mut rest = batch;
    while !rest.is_empty() {
        let first = &rest[0];
        let key = (first.geo, first.frame_size, first.config);
        let same = rest
            .iter()
            .take_while(|r| (r.geo, r.frame_size, r.config) == key)
            .count();
        let tail = rest.split_off(same);
        let inputs: Vec<&[f32]> = rest.iter().map(|r| r.input.as_slice()).collect();
        let mut outs = vec![Detections::default(); rest.len()];
        let result = engine.detect_inputs(&inputs, &key.0, key.1, &key.2, &mut outs);
        drop(inputs);
        match result {
            Ok(()) => {
                for (r, d) in rest.into_iter().zip(outs) {
                    let _ = r.reply.send(Ok((d, r.input)));
                }
            }
            Err(e) => {
                for r in rest {
                    let _ = r.reply.send(Err(e.clone()));
                }
            }
        }
        rest = tail;
    }
}
