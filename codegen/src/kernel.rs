//! The safe handle to a JIT-compiled kernel.
//!
//! The raw entry point never leaves this module except through the
//! `unsafe` `*_unchecked` calls, whose contracts are spelled out. The safe
//! calls check every length, stride and row id against the slices first, so
//! the machine code cannot read or write outside them.

use crate::backend::{BackendKind, LoweredCode};
use crate::CallError;
use hektor_kernels::{quant, Element, KernelSpec, Schedule, Shape};
use std::sync::Arc;
use std::time::Duration;

// Vectors are passed as untyped pointers: their element type (f32, f16,
// i8, u8, u64 bit words) is the spec's, checked by the safe calls.
type PairFn = unsafe extern "C" fn(*const u8, *const u8) -> f32;
type GatherFn = unsafe extern "C" fn(*const u8, *const u8, i64, *const u32, i64, *mut f32);
type ScanFn = unsafe extern "C" fn(*const u8, *const u8, i64, i64, *mut f32);

/// Where the time to produce a kernel went, and how big it is.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CompileStats {
    /// Building the naive IR and running the pass pipeline.
    pub passes: Duration,
    /// Translating kernel IR into the backend's IR.
    pub lowering: Duration,
    /// The backend's own compile and load.
    pub backend: Duration,
    /// passes + lowering + backend: what a caller waits for before the
    /// kernel can be verified.
    pub total: Duration,
    /// Checking the kernel against the oracle.
    pub verify: Duration,
    pub code_bytes: usize,
}

struct Inner {
    spec: KernelSpec,
    schedule: Schedule,
    backend: BackendKind,
    stats: CompileStats,
    code: LoweredCode,
    /// `spec.row_len(schedule)`, kept so that a call's checks are a few
    /// compares: on a 100-dimension kernel that takes single-digit
    /// nanoseconds, recomputing the layout per call showed up.
    row_len: usize,
    /// Whether rows have anything past their components (padding or a
    /// stored norm) that calls must check.
    has_tail_slots: bool,
    /// Elements holding components (`spec.elements()`).
    components: usize,
    /// Where the trailing per-row data starts (`row_len - meta_len`):
    /// `components..padded_end` must be zero.
    padded_end: usize,
    /// What the trailing data is, for the checks.
    tail_data: TailData,
    /// For bit rows whose last word is partly used: the bits past the
    /// dimension start at this bit of the last component word.
    bit_tail_shift: Option<u32>,
    /// Everything the row checks depend on: rows another kernel checked
    /// are valid here when their layouts are equal.
    layout: RowLayout,
    /// `layout`'s word for `pair` kernels, else [`NOT_A_PAIR_KERNEL`]:
    /// `pair_checked` compares each row's layout with it and nothing else.
    pair_key: u64,
}

/// What a row must look like for a kernel: its element type, dimension,
/// length, where its padding ends and what trailing data it carries. Two
/// kernels with equal layouts check rows identically, whatever their
/// metric or schedule, so a [`CheckedRow`] one of them checked is valid
/// for the other.
///
/// Packed into one word, so that [`Kernel::pair_checked`]'s per-call check
/// is one compare per row: on a 2 ns bit kernel, comparing the fields one
/// by one cost as much as the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowLayout(u64);

/// Bit fields of a [`RowLayout`]: the element type's index in
/// `ElementType::ALL` (8 bits), the trailing data (2), then dim, row length
/// and padding end (18 bits each: `MAX_DIM` = 65536 plus padding and
/// metadata fits). No layout has all type bits set, which marks
/// [`NOT_A_PAIR_KERNEL`].
const LAYOUT_FIELD_BITS: u32 = 18;
const LAYOUT_FIELD_MASK: u64 = (1 << LAYOUT_FIELD_BITS) - 1;
/// The `pair_checked` key of kernels of other shapes: equal to no layout.
const NOT_A_PAIR_KERNEL: u64 = u64::MAX;

impl RowLayout {
    fn of(spec: &KernelSpec, schedule: &Schedule) -> Self {
        let row_len = spec.row_len(schedule);
        let tail = if spec.dtype.is_quantized() {
            TailData::QuantMeta
        } else if spec.meta_len() > 0 {
            TailData::InverseNorm
        } else {
            TailData::None
        };
        let dtype = hektor_kernels::ElementType::ALL
            .iter()
            .position(|&t| t == spec.dtype)
            .expect("every element type is in ALL") as u64;
        let field = |v: usize| {
            assert!(
                v as u64 <= LAYOUT_FIELD_MASK,
                "{spec}: row layout field {v} too large"
            );
            v as u64
        };
        RowLayout(
            dtype
                | (tail as u64) << 8
                | field(spec.dim) << 10
                | field(row_len) << (10 + LAYOUT_FIELD_BITS)
                | field(row_len - spec.meta_len()) << (10 + 2 * LAYOUT_FIELD_BITS),
        )
    }

    fn field(&self, k: u32) -> usize {
        ((self.0 >> (10 + k * LAYOUT_FIELD_BITS)) & LAYOUT_FIELD_MASK) as usize
    }

    pub fn dtype(&self) -> hektor_kernels::ElementType {
        hektor_kernels::ElementType::ALL[(self.0 & 0xff) as usize]
    }

    pub fn dim(&self) -> usize {
        self.field(0)
    }

    /// Elements a row holds.
    pub fn row_len(&self) -> usize {
        self.field(1)
    }

    /// Where the trailing per-row data starts: elements up to it past the
    /// components are padding.
    fn padded_end(&self) -> usize {
        self.field(2)
    }

    fn tail_data(&self) -> TailData {
        match (self.0 >> 8) & 3 {
            0 => TailData::None,
            1 => TailData::InverseNorm,
            _ => TailData::QuantMeta,
        }
    }
}

impl std::fmt::Display for RowLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows of dim {}, {} elements",
            self.dtype().name(),
            self.dim(),
            self.row_len()
        )?;
        match self.tail_data() {
            TailData::None => Ok(()),
            TailData::InverseNorm => write!(f, " ending in an inverse norm"),
            TailData::QuantMeta => write!(f, " ending in quantization metadata"),
        }
    }
}

impl std::fmt::Debug for RowLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RowLayout({self})")
    }
}

/// A row that passed a kernel's checks (length, zero padding, a usable
/// stored norm or quantization metadata) once, when it was made by
/// [`Kernel::check_row`]. It borrows the row, so the row cannot change
/// while it is held, and [`Kernel::pair_checked`] then needs only to
/// compare layouts: the safe call at the cost of the unchecked one, for
/// callers that reuse rows across many distances (a query against a
/// candidate list, an index's stored rows).
#[derive(Debug, Clone, Copy)]
pub struct CheckedRow<'a, T> {
    row: &'a [T],
    layout: RowLayout,
}

impl<'a, T> CheckedRow<'a, T> {
    pub fn as_slice(&self) -> &'a [T] {
        self.row
    }

    /// The layout of the kernel that checked it.
    pub fn layout(&self) -> RowLayout {
        self.layout
    }
}

/// What a row holds after its padding (its value is its bits in
/// [`RowLayout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TailData {
    None = 0,
    /// `cosine_norms`: the inverse norm.
    InverseNorm,
    /// `i8`/`u8`: the quantization metadata.
    QuantMeta,
}

/// The four f32 of a quantized row's metadata (`hektor_kernels::quant`):
/// finite, with a scale and squared norm ≥ 0. NaN or infinite metadata
/// would make every distance NaN or infinite, which an index must not mistake
/// for a distance.
fn check_quant_meta<T: Element>(what: &'static str, meta: &[T]) -> Result<(), CallError> {
    let Some(meta) = meta.get(..quant::META_BYTES) else {
        return Err(CallError::BadQuantMeta {
            what,
            field: "metadata",
            value: "missing".into(),
        });
    };
    if quant_meta_ok(meta) {
        return Ok(());
    }
    bad_quant_meta(what, quant_meta_words(meta))
}

/// Offset, scale, code sum and squared norm, from the metadata's bytes.
#[inline(always)]
fn quant_meta_words<T: Element>(meta: &[T]) -> [f32; 4] {
    let word = |k: usize| {
        let b = |j: usize| meta[4 * k + j].to_bits() as u8;
        f32::from_le_bytes([b(0), b(1), b(2), b(3)])
    };
    [word(0), word(1), word(2), word(3)]
}

/// The common path of [`check_quant_meta`] in one branch: all finite,
/// scale and norm not negative (NaN fails every comparison). `meta` holds
/// at least `META_BYTES` elements.
#[inline(always)]
fn quant_meta_ok<T: Element>(meta: &[T]) -> bool {
    let [offset, scale, code_sum, norm] = quant_meta_words(meta);
    offset.is_finite()
        && code_sum.is_finite()
        && scale.is_finite()
        && norm.is_finite()
        && scale >= 0.0
        && norm >= 0.0
}

#[cold]
fn bad_norm(what: &'static str, inv: f32) -> CallError {
    CallError::BadNorm {
        what,
        value: inv.to_string(),
    }
}

/// The error for metadata that failed [`check_quant_meta`].
#[cold]
fn bad_quant_meta(what: &'static str, words: [f32; 4]) -> Result<(), CallError> {
    const FIELDS: [&str; 4] = ["offset", "scale", "code sum", "squared norm"];
    for (k, (field, v)) in FIELDS.into_iter().zip(words).enumerate() {
        let signed_ok = !matches!(k, 1 | 3) || v >= 0.0;
        if !(v.is_finite() && signed_ok) {
            return Err(CallError::BadQuantMeta {
                what,
                field,
                value: v.to_string(),
            });
        }
    }
    Ok(())
}

/// A verified, callable kernel. Cheap to clone; the machine code stays
/// mapped while any clone lives.
#[derive(Clone)]
pub struct Kernel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("spec", &self.inner.spec.to_string())
            .field("schedule", &self.inner.schedule.to_string())
            .field("backend", &self.inner.backend)
            .finish()
    }
}

impl Kernel {
    /// Wraps freshly lowered code. Crate-private: only the pipeline makes
    /// kernels, and it verifies them before handing them out.
    pub(crate) fn new(
        spec: KernelSpec,
        schedule: Schedule,
        backend: BackendKind,
        stats: CompileStats,
        code: LoweredCode,
    ) -> Self {
        // Every row check derives from the one layout.
        let layout = RowLayout::of(&spec, &schedule);
        let row_len = layout.row_len();
        let partial_last_word =
            spec.dtype == hektor_kernels::ElementType::Bit && !spec.dim.is_multiple_of(64);
        Kernel {
            inner: Arc::new(Inner {
                row_len,
                // Rows of bits have tail bits to check whenever the last
                // word is partly used; rows of anything else past `dim`.
                has_tail_slots: row_len > spec.elements() || partial_last_word,
                components: spec.elements(),
                padded_end: layout.padded_end(),
                tail_data: layout.tail_data(),
                bit_tail_shift: partial_last_word.then_some((spec.dim % 64) as u32),
                layout,
                pair_key: if spec.shape == Shape::Pair {
                    layout.0
                } else {
                    NOT_A_PAIR_KERNEL
                },
                spec,
                schedule,
                backend,
                stats,
                code,
            }),
        }
    }

    pub(crate) fn set_verify_time(&mut self, d: Duration) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.stats.verify = d;
        }
    }

    pub fn spec(&self) -> &KernelSpec {
        &self.inner.spec
    }
    pub fn schedule(&self) -> &Schedule {
        &self.inner.schedule
    }
    pub fn backend(&self) -> BackendKind {
        self.inner.backend
    }
    pub fn stats(&self) -> &CompileStats {
        &self.inner.stats
    }

    /// Elements each vector (query and row) must hold: the dimension (in
    /// u64 words for `bit`), rounded up to the width for `tail=padded`,
    /// plus the trailing per-row data (`KernelSpec::row_len`).
    #[inline]
    pub fn row_len(&self) -> usize {
        self.inner.row_len
    }

    /// What rows of this kernel look like; kernels with equal layouts
    /// accept each other's [`CheckedRow`]s.
    pub fn row_layout(&self) -> RowLayout {
        self.inner.layout
    }

    /// The kernel's machine code, for disassembly.
    pub fn code(&self) -> &[u8] {
        // SAFETY: `entry` points at `code_size` bytes of loaded, immutable
        // machine code that stays mapped while `self.inner.code.owner` lives,
        // which outlives the returned borrow of `self`.
        unsafe { std::slice::from_raw_parts(self.inner.code.entry, self.inner.code.code_size) }
    }

    /// The address the code is loaded at (for disassembly listings).
    pub fn address(&self) -> u64 {
        self.inner.code.entry as u64
    }

    #[inline]
    fn expect_shape(&self, called: Shape) -> Result<(), CallError> {
        if self.inner.spec.shape == called {
            Ok(())
        } else {
            Err(CallError::WrongShape {
                spec: self.inner.spec,
                actual: self.inner.spec.shape.name(),
                called: called.name(),
            })
        }
    }

    #[inline]
    fn expect_element<T: Element>(&self) -> Result<(), CallError> {
        if T::TYPE == self.inner.spec.dtype {
            Ok(())
        } else {
            Err(CallError::WrongElementType {
                spec: self.inner.spec,
                called: T::TYPE.name(),
            })
        }
    }

    #[inline]
    fn check_vector<T: Element>(&self, what: &'static str, v: &[T]) -> Result<(), CallError> {
        self.expect_element::<T>()?;
        let want = self.inner.row_len;
        if v.len() != want {
            return Err(self.length_error(what, v.len()));
        }
        if self.inner.has_tail_slots {
            self.check_padding(what, v)?;
        }
        Ok(())
    }

    #[cold]
    fn length_error(&self, what: &'static str, got: usize) -> CallError {
        CallError::Length {
            spec: self.inner.spec,
            what,
            got,
            want: self.inner.row_len,
        }
    }

    /// Zero padding between the components and the trailing per-row data,
    /// and a usable stored inverse norm (`cosine_norms`) or quantization
    /// metadata (`i8`, `u8`); for `bit`, zero bits past the dimension.
    #[inline]
    fn check_padding<T: Element>(&self, what: &'static str, row: &[T]) -> Result<(), CallError> {
        // The layout is precomputed: these checks run on every safe call,
        // and recomputing it cost more than a short kernel.
        let inner = &*self.inner;
        let (components, padded_end) = (inner.components, inner.padded_end);
        if components < padded_end {
            if let Some(k) = row[components..padded_end]
                .iter()
                .position(|&x| x.to_bits() != 0)
            {
                return Err(CallError::NonZeroPadding {
                    what,
                    index: components + k,
                });
            }
        }
        if let Some(shift) = inner.bit_tail_shift {
            let last = row[components - 1].to_bits() >> shift;
            if last != 0 {
                return Err(self.bits_past_dimension(what, last));
            }
        }
        match inner.tail_data {
            TailData::None => Ok(()),
            TailData::QuantMeta => check_quant_meta(what, &row[padded_end..]),
            TailData::InverseNorm => {
                let inv = row[padded_end].to_f32();
                if inv.is_finite() && inv >= 0.0 {
                    Ok(())
                } else {
                    Err(bad_norm(what, inv))
                }
            }
        }
    }

    #[cold]
    fn bits_past_dimension(&self, what: &'static str, last: u64) -> CallError {
        let dim = self.inner.spec.dim;
        CallError::BitsPastDimension {
            what,
            bit: dim + last.trailing_zeros() as usize,
            dim,
        }
    }

    fn check_rows<T: Element>(
        &self,
        base: &[T],
        stride: usize,
        rows: impl Iterator<Item = usize>,
    ) -> Result<(), CallError> {
        let row = self.row_len();
        if stride < row {
            return Err(CallError::Stride { stride, row });
        }
        for id in rows {
            let end = id
                .checked_mul(stride)
                .and_then(|s| s.checked_add(row))
                .unwrap_or(usize::MAX);
            if end > base.len() {
                return Err(CallError::RowOutOfBounds {
                    id,
                    end,
                    len: base.len(),
                });
            }
            if self.inner.has_tail_slots {
                self.check_padding("row", &base[id * stride..end])?;
            }
        }
        Ok(())
    }

    /// The distance between `a` and `b` (`pair` kernels).
    #[inline]
    pub fn pair<T: Element>(&self, a: &[T], b: &[T]) -> Result<f32, CallError> {
        let inner = &*self.inner;
        // The checks inline, as one chain of compares; only a failure
        // takes the out-of-line path that names the error. (Taken one
        // function at a time they cost as much as a short kernel.)
        let valid = inner.spec.shape == Shape::Pair
            && T::TYPE == inner.spec.dtype
            && self.row_ok(a)
            && self.row_ok(b);
        if !valid {
            self.check_pair(a, b)?;
        }
        // SAFETY: both slices hold exactly `row_len()` elements, all the
        // kernel reads (checked above or by `check_pair`).
        Ok(unsafe { self.pair_unchecked(a.as_ptr(), b.as_ptr()) })
    }

    /// Whether `row` passes [`Kernel::check_vector`] (element type aside):
    /// the same checks, as one expression.
    #[inline(always)]
    fn row_ok<T: Element>(&self, row: &[T]) -> bool {
        let inner = &*self.inner;
        if row.len() != inner.row_len {
            return false;
        }
        if !inner.has_tail_slots {
            return true;
        }
        let (components, padded_end) = (inner.components, inner.padded_end);
        row[components..padded_end].iter().all(|x| x.to_bits() == 0)
            && inner
                .bit_tail_shift
                .is_none_or(|shift| row[components - 1].to_bits() >> shift == 0)
            && match inner.tail_data {
                TailData::None => true,
                TailData::InverseNorm => {
                    let inv = row[padded_end].to_f32();
                    inv.is_finite() && inv >= 0.0
                }
                TailData::QuantMeta => {
                    row.len() - padded_end >= quant::META_BYTES && quant_meta_ok(&row[padded_end..])
                }
            }
    }

    /// Every check of [`Kernel::pair`]'s arguments, with the error.
    #[inline(never)]
    fn check_pair<T: Element>(&self, a: &[T], b: &[T]) -> Result<(), CallError> {
        self.expect_shape(Shape::Pair)?;
        self.check_vector("a", a)?;
        self.check_vector("b", b)
    }

    /// Checks `row` once for this kernel's layout (and every kernel with an
    /// equal [`RowLayout`]): the checks [`Kernel::pair`] makes on each call.
    pub fn check_row<'a, T: Element>(&self, row: &'a [T]) -> Result<CheckedRow<'a, T>, CallError> {
        self.check_vector("row", row)?;
        Ok(CheckedRow {
            row,
            layout: self.inner.layout,
        })
    }

    /// The distance between two rows checked by [`Kernel::check_row`]
    /// (`pair` kernels). Per call it compares the shape and the two
    /// layouts, nothing else: the rows were checked when they were made
    /// and cannot have changed since.
    #[inline]
    pub fn pair_checked<T: Element>(
        &self,
        a: CheckedRow<'_, T>,
        b: CheckedRow<'_, T>,
    ) -> Result<f32, CallError> {
        let key = self.inner.pair_key;
        if a.layout.0 != key || b.layout.0 != key {
            return Err(self.checked_pair_error(&a.layout, &b.layout));
        }
        // SAFETY: a `pair` kernel; both rows passed `check_vector` for this
        // layout (a `CheckedRow` is only made by `check_row`), so each holds
        // `row_len()` elements of the spec's type with valid padding and
        // trailing data, and the borrow keeps them unchanged.
        Ok(unsafe { self.pair_unchecked(a.row.as_ptr(), b.row.as_ptr()) })
    }

    #[cold]
    #[inline(never)]
    fn checked_pair_error(&self, a: &RowLayout, b: &RowLayout) -> CallError {
        if let Err(e) = self.expect_shape(Shape::Pair) {
            return e;
        }
        let (what, checked) = if *a != self.inner.layout {
            ("a", a)
        } else {
            ("b", b)
        };
        CallError::OtherLayout {
            spec: self.inner.spec,
            what,
            checked: checked.to_string(),
            want: self.inner.layout.to_string(),
        }
    }

    /// # Safety
    /// The kernel must be a `pair` kernel, and `a` and `b` must each point
    /// at `row_len()` readable elements of the spec's element type (zero
    /// past `dim` for padded kernels).
    #[inline]
    pub unsafe fn pair_unchecked<T: Element>(&self, a: *const T, b: *const T) -> f32 {
        debug_assert_eq!(self.inner.spec.shape, Shape::Pair);
        // SAFETY: pair kernels are generated with exactly this signature and
        // the System V calling convention, which `extern "C"` is on x86-64
        // Linux; the caller upholds the memory contract.
        unsafe {
            let f: PairFn = std::mem::transmute(self.inner.code.entry);
            f(a.cast(), b.cast())
        }
    }

    /// Distances from `query` to rows `ids` of `base` (row `i` starts at
    /// element `i · stride`), written to `out[..ids.len()]` (`gather`).
    pub fn gather<T: Element>(
        &self,
        query: &[T],
        base: &[T],
        stride: usize,
        ids: &[u32],
        out: &mut [f32],
    ) -> Result<(), CallError> {
        self.expect_shape(Shape::Gather)?;
        self.check_vector("query", query)?;
        self.check_rows(base, stride, ids.iter().map(|&i| i as usize))?;
        if out.len() < ids.len() {
            return Err(CallError::OutputTooShort {
                got: out.len(),
                want: ids.len(),
            });
        }
        // SAFETY: every id's row lies inside `base`, the query holds
        // `row_len()` elements, and `out` has room for every distance.
        unsafe {
            self.gather_unchecked(query.as_ptr(), base.as_ptr(), stride, ids, out.as_mut_ptr())
        };
        Ok(())
    }

    /// # Safety
    /// A `gather` kernel; `query` points at `row_len()` f32s; for every id,
    /// `base + id·stride` points at `row_len()` readable f32s; `out` has
    /// room for `ids.len()` f32s and overlaps none of the inputs (the
    /// kernel's pointer arguments are `noalias`).
    #[inline]
    pub unsafe fn gather_unchecked<T: Element>(
        &self,
        query: *const T,
        base: *const T,
        stride: usize,
        ids: &[u32],
        out: *mut f32,
    ) {
        debug_assert_eq!(self.inner.spec.shape, Shape::Gather);
        // SAFETY: gather kernels have exactly this signature (see
        // hektor_passes::build); the caller upholds the memory contract.
        unsafe {
            let f: GatherFn = std::mem::transmute(self.inner.code.entry);
            f(
                query.cast(),
                base.cast(),
                stride as i64,
                ids.as_ptr(),
                ids.len() as i64,
                out,
            )
        }
    }

    /// Distances from `query` to rows `0..count` of `base`, into
    /// `out[..count]` (`scan`).
    pub fn scan<T: Element>(
        &self,
        query: &[T],
        base: &[T],
        stride: usize,
        count: usize,
        out: &mut [f32],
    ) -> Result<(), CallError> {
        self.expect_shape(Shape::Scan)?;
        self.check_vector("query", query)?;
        self.check_rows(base, stride, (0..count).rev().take(1))?;
        if self.inner.has_tail_slots {
            self.check_rows(base, stride, 0..count)?;
        }
        if out.len() < count {
            return Err(CallError::OutputTooShort {
                got: out.len(),
                want: count,
            });
        }
        // SAFETY: rows 0..count lie inside `base` (the last one was checked,
        // rows are in order), and `out` has room for `count` distances.
        unsafe {
            self.scan_unchecked(
                query.as_ptr(),
                base.as_ptr(),
                stride,
                count,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    /// # Safety
    /// A `scan` kernel; `query` points at `row_len()` f32s; rows
    /// `0..count` of `stride` elements from `base` are readable; `out` has
    /// room for `count` f32s and overlaps none of the inputs (the kernel's
    /// pointer arguments are `noalias`).
    #[inline]
    pub unsafe fn scan_unchecked<T: Element>(
        &self,
        query: *const T,
        base: *const T,
        stride: usize,
        count: usize,
        out: *mut f32,
    ) {
        debug_assert_eq!(self.inner.spec.shape, Shape::Scan);
        // SAFETY: scan kernels have exactly this signature; the caller
        // upholds the memory contract.
        unsafe {
            let f: ScanFn = std::mem::transmute(self.inner.code.entry);
            f(query.cast(), base.cast(), stride as i64, count as i64, out)
        }
    }
}
