//! One model instance serving several streams in batches.
//!
//! Streams that join the same named group share a worker thread that owns the group's
//! [`InferenceBackend`] (loaded by [`backend::load`]: ONNX Runtime, or with the `torch` feature
//! and `provider=cuda` the libtorch engine). The worker takes the first waiting frame, then waits
//! up to `max_latency` for more frames of the same network input size (up to `batch_size`), runs
//! them as one `[N, 1, H, W]` batch and answers each stream with its own keypoints. Larger batches
//! raise throughput on a GPU; the price is up to `max_latency` of added latency per frame when
//! fewer than `batch_size` streams are active.
//!
//! A stream's handle, [`BatchGroup`], is itself an [`InferenceBackend`] (frames are converted to
//! network inputs on the stream's thread, then sent), so a [`Detector`] detects through a group
//! as through its own engine: [`Detector::join_batch_group`].
//!
//! [`Detector`]: crate::Detector
//! [`Detector::join_batch_group`]: crate::Detector::join_batch_group

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::Error;
use crate::backend::{self, InferenceBackend, NetworkInput, check_lengths};
use crate::detection::{Detections, DetectorConfig};
use crate::engine::{EngineOptions, InputShape};
use crate::frame::{Frame, InputGeometry};
use crate::onnx::ModelInfo;

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

/// The answer to a request: the stream's detections and its input buffer back (reused).
type Reply = Result<(Detections, Vec<f32>), Error>;

struct Request {
    input: Vec<f32>,
    geo: InputGeometry,
    frame_size: (usize, usize),
    config: DetectorConfig,
    reply: SyncSender<Reply>,
}

struct Shared {
    tx: Mutex<Sender<Request>>,
    name: String,
    model: PathBuf,
    options: EngineOptions,
    policy: BatchPolicy,
    has_descriptors: bool,
    info: ModelInfo,
    /// The model's input shape, kept for the group's members.
    input_shape: InputShape,
    backend_name: String,
    stats: Stats,
}

/// Counters of a group's worker.
#[derive(Debug, Default)]
struct Stats {
    frames: AtomicU64,
    batches: AtomicU64,
}

/// A stream's handle on a batching group, and an [`InferenceBackend`] that runs frames through
/// the group's worker. Cheap to hold; the worker stops when the last handle of its group is
/// dropped.
pub struct BatchGroup {
    shared: Arc<Shared>,
    /// Input buffers travel to the worker and back, so steady state allocates nothing.
    inputs: Vec<Vec<f32>>,
    /// Answers awaited, in request order.
    answers: Vec<mpsc::Receiver<Reply>>,
}

impl std::fmt::Debug for BatchGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchGroup")
            .field("name", &self.shared.name)
            .field("model", &self.shared.model)
            .field("policy", &self.shared.policy)
            .finish()
    }
}

fn groups() -> &'static Mutex<HashMap<String, Weak<Shared>>> {
    static GROUPS: std::sync::OnceLock<Mutex<HashMap<String, Weak<Shared>>>> =
        std::sync::OnceLock::new();
    GROUPS.get_or_init(Default::default)
}

/// Frames and forward passes run so far by the group `name` (frames / batches = mean batch
/// size), or `None` when no handle of that group is alive.
pub fn group_stats(name: &str) -> Option<(u64, u64)> {
    let groups = groups().lock().expect("group registry");
    let shared = groups.get(name).and_then(Weak::upgrade)?;
    Some(shared.stats.get())
}

impl Stats {
    fn get(&self) -> (u64, u64) {
        (
            self.frames.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
        )
    }
}

impl BatchGroup {
    /// Joins group `name`, starting its worker with `model`/`options`/`policy` (the backend from
    /// [`backend::load`]) when the group does not exist yet. Errors: `batch_size` 0 or joining an
    /// existing group with another model, provider or policy ([`Error::Config`]: the group runs
    /// one model instance), a model whose fixed batch size cannot run `batch_size` frames
    /// ([`InputShape::check_batch`]), and those of [`backend::load`].
    pub fn join(
        name: &str,
        model: &Path,
        options: &EngineOptions,
        policy: BatchPolicy,
    ) -> Result<Self, Error> {
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
                let engine = backend::load(model, options)?;
                engine.input_shape().check_batch(policy.batch_size, model)?;
                let (tx, rx) = mpsc::channel();
                let shared = Arc::new(Shared {
                    tx: Mutex::new(tx),
                    name: name.to_string(),
                    model: model.to_path_buf(),
                    options: options.clone(),
                    policy,
                    has_descriptors: engine.has_descriptors(),
                    info: engine.model_info().clone(),
                    input_shape: engine.input_shape(),
                    backend_name: engine.name(),
                    stats: Stats::default(),
                });
                // The worker holds the group weakly: it stops when the last handle is dropped
                // (the channel closes), not kept alive by itself.
                let worker_shared = Arc::downgrade(&shared);
                std::thread::Builder::new()
                    .name(format!("superpoint-batch-{name}"))
                    .spawn(move || worker(engine, rx, policy, worker_shared))
                    .map_err(|e| Error::Runtime(format!("cannot start batch worker: {e}")))?;
                groups.insert(name.to_string(), Arc::downgrade(&shared));
                shared
            }
        };
        Ok(BatchGroup {
            shared,
            inputs: Vec::new(),
            answers: Vec::new(),
        })
    }

    /// Frames and forward passes run by the group so far (frames / batches = mean batch size).
    pub fn stats(&self) -> (u64, u64) {
        self.shared.stats.get()
    }

    /// Sends one converted input to the worker (answer awaited in [`Self::collect`]).
    fn send(
        &mut self,
        input: Vec<f32>,
        geo: InputGeometry,
        frame_size: (usize, usize),
        config: DetectorConfig,
    ) -> Result<(), Error> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.answers.push(answer);
        let request = Request {
            input,
            geo,
            frame_size,
            config,
            reply,
        };
        self.shared
            .tx
            .lock()
            .expect("sender")
            .send(request)
            .map_err(|_| Error::Runtime("batch worker stopped".into()))
    }

    /// Waits for every answer sent for, in order, into `outs`; the input buffers come back for
    /// the next frames. The first error is returned after all answers are in.
    fn collect(&mut self, outs: &mut [Detections]) -> Result<(), Error> {
        let mut result = Ok(());
        for (answer, out) in self.answers.drain(..).zip(outs) {
            let answer = answer
                .recv()
                .map_err(|_| Error::Runtime("batch worker stopped".into()))
                .and_then(|a| a);
            match answer {
                Ok((detections, input)) => {
                    *out = detections;
                    self.inputs.push(input);
                }
                Err(e) => {
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
            }
        }
        result
    }
}

impl InferenceBackend for BatchGroup {
    fn name(&self) -> String {
        format!(
            "batch group {:?} of {}",
            self.shared.name, self.shared.backend_name
        )
    }

    fn model_info(&self) -> &ModelInfo {
        &self.shared.info
    }

    fn model_path(&self) -> &Path {
        &self.shared.model
    }

    fn has_descriptors(&self) -> bool {
        self.shared.has_descriptors
    }

    fn input_shape(&self) -> InputShape {
        self.shared.input_shape
    }

    /// Converts each frame on the caller's thread and sends it to the worker (blocks until the
    /// batches ran).
    fn detect_frames(
        &mut self,
        frames: &[Frame<'_>],
        config: &DetectorConfig,
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        check_lengths(frames.len(), outs.len())?;
        let size = self
            .shared
            .input_shape
            .inference_size(config.inference_size(), &self.shared.model)?;
        for frame in frames {
            let geo = frame.geometry(size);
            let mut input = self.inputs.pop().unwrap_or_default();
            frame.fill_input(&geo, &mut input);
            if let Err(e) = self.send(input, geo, (frame.width, frame.height), *config) {
                let _ = self.collect(outs);
                return Err(e);
            }
        }
        self.collect(outs)
    }

    fn detect_inputs(
        &mut self,
        inputs: &[NetworkInput<'_>],
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        check_lengths(inputs.len(), outs.len())?;
        for i in inputs {
            backend::check_input(i)?;
        }
        for i in inputs {
            let mut input = self.inputs.pop().unwrap_or_default();
            input.clear();
            input.extend_from_slice(i.data);
            if let Err(e) = self.send(input, i.geo, i.frame_size, i.config) {
                let _ = self.collect(outs);
                return Err(e);
            }
        }
        self.collect(outs)
    }
}

fn worker(
    mut engine: Box<dyn InferenceBackend>,
    rx: Receiver<Request>,
    policy: BatchPolicy,
    shared: Weak<Shared>,
) {
    let mut pending: Vec<Request> = Vec::new();
    let mut outs: Vec<Detections> = Vec::new();
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
        if let Some(shared) = shared.upgrade() {
            shared
                .stats
                .frames
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        }
        run_batch(&mut *engine, batch, &mut outs);
    }
}

/// Runs one batch (requests of one network input size) and answers every request.
fn run_batch(engine: &mut dyn InferenceBackend, batch: Vec<Request>, outs: &mut Vec<Detections>) {
    outs.resize_with(batch.len(), Detections::default);
    let inputs: Vec<NetworkInput<'_>> = batch
        .iter()
        .map(|r| NetworkInput {
            data: &r.input,
            geo: r.geo,
            frame_size: r.frame_size,
            config: r.config,
        })
        .collect();
    let result = engine.detect_inputs(&inputs, outs);
    drop(inputs);
    match result {
        Ok(()) => {
            for (r, d) in batch.into_iter().zip(outs.drain(..)) {
                let _ = r.reply.send(Ok((d, r.input)));
            }
        }
        Err(e) => {
            outs.clear();
            for r in batch {
                let _ = r.reply.send(Err(e.clone()));
            }
        }
    }
}
