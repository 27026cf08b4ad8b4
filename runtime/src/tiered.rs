//! Tiered kernels, as a JVM tiers its methods: a request is answered at
//! once with the Cranelift kernel (hundreds of microseconds to compile),
//! while a background thread compiles the LLVM kernel (milliseconds),
//! verifies it against the oracle, and swaps it in.
//!
//! The query path takes no lock: a [`TieredSlot`] holds its kernel in an
//! [`ArcSwap`], so a caller's `kernel()` is an atomic load, and a replaced
//! kernel's code stays mapped until the last caller holding it lets go
//! (the `Arc` owns the code). Which tier serves each spec, and when it was
//! swapped, is observable through [`TieredRegistry::events`] and the
//! optional event callback.

use crate::tuning::ScheduleBook;
use arc_swap::{ArcSwap, Guard};
use hektor_codegen::{compile, Backend, BackendKind, CodegenError, CompileOptions, Kernel};
use hektor_kernels::KernelSpec;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One spec's current kernel.
pub struct TieredSlot {
    spec: KernelSpec,
    current: ArcSwap<Kernel>,
    tier: AtomicU8,
}

const TIER_BASELINE: u8 = 0;
const TIER_OPTIMIZED: u8 = 1;

impl TieredSlot {
    /// The kernel to call now. Lock-free; the guard keeps the kernel's code
    /// alive even if a swap happens while it is in use.
    #[inline]
    pub fn kernel(&self) -> Guard<Arc<Kernel>> {
        self.current.load()
    }

    pub fn spec(&self) -> &KernelSpec {
        &self.spec
    }

    /// The backend of the kernel now served.
    pub fn backend(&self) -> BackendKind {
        self.current.load().backend()
    }

    /// Whether the optimizing tier's kernel has been swapped in.
    pub fn is_optimized(&self) -> bool {
        self.tier.load(Ordering::Acquire) == TIER_OPTIMIZED
    }
}

/// Something that happened to a slot, for logs and tests.
#[derive(Debug, Clone)]
pub enum TierEvent {
    /// The baseline kernel is serving.
    Serving {
        spec: KernelSpec,
        backend: BackendKind,
        compile: Duration,
        at: Duration,
    },
    /// The optimizing tier's kernel was verified and swapped in.
    Swapped {
        spec: KernelSpec,
        from: BackendKind,
        to: BackendKind,
        compile: Duration,
        at: Duration,
    },
    /// The optimizing tier failed; the baseline keeps serving.
    Failed {
        spec: KernelSpec,
        backend: BackendKind,
        error: String,
        at: Duration,
    },
}

type Listener = Arc<dyn Fn(&TierEvent) + Send + Sync>;

struct Shared {
    started: Instant,
    events: Mutex<Vec<TierEvent>>,
    listener: Option<Listener>,
    /// Slots queued for the optimizing tier, and slots it has finished
    /// (swapped or failed): waiting compares two counters.
    queued: AtomicUsize,
    finished: AtomicUsize,
}

impl Shared {
    fn emit(&self, e: TierEvent) {
        if let Some(l) = &self.listener {
            l(&e);
        }
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }
}

/// Kernels by spec, each served by the best tier ready so far.
pub struct TieredRegistry {
    baseline: Box<dyn Backend>,
    book: Arc<ScheduleBook>,
    slots: RwLock<HashMap<KernelSpec, Arc<TieredSlot>>>,
    shared: Arc<Shared>,
    queue: Option<Sender<Arc<TieredSlot>>>,
    worker: Option<JoinHandle<()>>,
}

impl TieredRegistry {
    /// `baseline` answers requests synchronously; `optimizing`, if any,
    /// compiles in a background thread that owns it.
    pub fn new(
        baseline: Box<dyn Backend>,
        optimizing: Option<Box<dyn Backend>>,
        book: ScheduleBook,
        listener: Option<Listener>,
    ) -> Self {
        let book = Arc::new(book);
        let shared = Arc::new(Shared {
            started: Instant::now(),
            events: Mutex::new(vec![]),
            listener,
            queued: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        });
        let (queue, worker) = match optimizing {
            Some(backend) => {
                let (tx, rx) = channel::<Arc<TieredSlot>>();
                let shared = shared.clone();
                let book = book.clone();
                let worker = std::thread::Builder::new()
                    .name("hektor-tier-up".into())
                    .spawn(move || {
                        for slot in rx {
                            tier_up(&slot, backend.as_ref(), &book, &shared);
                        }
                    })
                    .expect("spawning the tier-up thread");
                (Some(tx), Some(worker))
            }
            None => (None, None),
        };
        TieredRegistry {
            baseline,
            book,
            slots: RwLock::new(HashMap::new()),
            shared,
            queue,
            worker,
        }
    }

    /// The slot for `spec`: compiled (and verified) by the baseline on
    /// first request, then queued for the optimizing tier.
    pub fn get(&self, spec: &KernelSpec) -> Result<Arc<TieredSlot>, CodegenError> {
        if let Some(s) = self
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(spec)
        {
            return Ok(s.clone());
        }
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slots.get(spec) {
            return Ok(s.clone());
        }
        let (schedule, _) = self.book.schedule_for(spec, self.baseline.as_ref());
        let kernel = compile(
            spec,
            &schedule,
            self.baseline.as_ref(),
            CompileOptions::default(),
        )?
        .kernel;
        self.shared.emit(TierEvent::Serving {
            spec: *spec,
            backend: kernel.backend(),
            compile: kernel.stats().total,
            at: self.shared.started.elapsed(),
        });
        let slot = Arc::new(TieredSlot {
            spec: *spec,
            current: ArcSwap::from_pointee(kernel),
            tier: AtomicU8::new(TIER_BASELINE),
        });
        slots.insert(*spec, slot.clone());
        if let Some(q) = &self.queue {
            // The worker only stops when the registry drops the sender.
            self.shared.queued.fetch_add(1, Ordering::AcqRel);
            let _ = q.send(slot.clone());
        }
        Ok(slot)
    }

    /// Everything that has happened so far, in order.
    pub fn events(&self) -> Vec<TierEvent> {
        self.shared
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until the optimizing tier has handled every slot requested so
    /// far (swapped or failed), or `timeout` passes. True if it finished.
    pub fn wait_for_tier_up(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self.shared.finished.load(Ordering::Acquire)
                < self.shared.queued.load(Ordering::Acquire);
            if !pending {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for TieredRegistry {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Compiles and verifies the optimizing tier's kernel for `slot` and swaps
/// it in; on failure the baseline keeps serving.
fn tier_up(slot: &TieredSlot, backend: &dyn Backend, book: &ScheduleBook, shared: &Shared) {
    let spec = slot.spec;
    let (schedule, _) = book.schedule_for(&spec, backend);
    match compile(&spec, &schedule, backend, CompileOptions::default()) {
        Ok(c) => {
            let from = slot.backend();
            let to = c.kernel.backend();
            let compile = c.kernel.stats().total;
            slot.current.store(Arc::new(c.kernel));
            slot.tier.store(TIER_OPTIMIZED, Ordering::Release);
            shared.emit(TierEvent::Swapped {
                spec,
                from,
                to,
                compile,
                at: shared.started.elapsed(),
            });
        }
        Err(e) => shared.emit(TierEvent::Failed {
            spec,
            backend: backend.kind(),
            error: e.to_string(),
            at: shared.started.elapsed(),
        }),
    }
    // After the event, so a waiter that sees the count also sees it.
    shared.finished.fetch_add(1, Ordering::AcqRel);
}
