//! Descriptor matching: nearest neighbours by L2 distance with an optional mutual check, Lowe's
//! ratio test and a maximum distance.
//!
//! All pairwise distances are computed with a blocked, packed matrix product (the layout of a BLAS
//! GEMM: 6x16 register tiles, the second set packed into L1-sized panels, the first into L2-sized
//! blocks) and reduced on the fly to the best and second-best neighbour of every row and the best
//! neighbour of every column, so the `n x m` distance matrix is never stored. On x86-64 an
//! AVX2+FMA kernel is chosen at run time; elsewhere a portable kernel that the compiler
//! vectorises is used. Buffers live in [`Matcher`] and are reused, so matching allocates nothing
//! once warm.
//!
//! Distances are true Euclidean distances (`|a|^2 + |b|^2 - 2 a.b`), so the descriptors need not be
//! unit vectors; for unit vectors (SuperPoint, and ORB bits unpacked to +-1/16) the ranking equals
//! the ranking by dot product (and by Hamming distance for the ORB encoding).

use crate::Error;

/// Rows of the register tile (descriptors of the first set per micro-kernel call).
const MR: usize = 6;
/// Columns of the register tile (descriptors of the second set per micro-kernel call).
const NR: usize = 16;
/// Target size in bytes of a packed block of the first set (kept in L2 while all panels of the
/// second set stream through L1).
const BLOCK_BYTES: usize = 192 * 1024;

/// Default [`MatchParams::ratio`]: 1, no ratio test (`superpointmatch`, `superpoint eval`).
pub const DEFAULT_RATIO: f32 = 1.0;

/// Matching options.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MatchParams {
    /// Keep a match `a -> b` only when `a` is also the nearest neighbour of `b`.
    pub mutual: bool,
    /// Lowe's ratio test: keep a match only when its distance is below `ratio` times the distance
    /// to the second-nearest neighbour. Within (0, 1]; 1 disables the test.
    pub ratio: f32,
    /// Keep a match only when its distance is at most this (Euclidean, for unit descriptors within
    /// [0, 2]); `f32::INFINITY` disables the limit (written as `null` in JSON).
    #[serde(deserialize_with = "infinity_if_null")]
    pub max_distance: f32,
}

impl Default for MatchParams {
    /// Mutual nearest neighbours, no ratio test, no distance limit.
    fn default() -> Self {
        MatchParams {
            mutual: true,
            ratio: DEFAULT_RATIO,
            max_distance: f32::INFINITY,
        }
    }
}

/// JSON has no infinity: serde_json writes it as `null`, so read `null` back as infinity.
fn infinity_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::INFINITY))
}

impl MatchParams {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.ratio > 0.0 && self.ratio <= 1.0) {
            return Err(Error::Config(format!(
                "ratio must be within (0, 1] (1 disables the ratio test), got {}",
                self.ratio
            )));
        }
        if self.max_distance.is_nan() || self.max_distance <= 0.0 {
            return Err(Error::Config(format!(
                "max-distance must be positive (infinity disables it), got {}",
                self.max_distance
            )));
        }
        Ok(())
    }
}

/// One correspondence between descriptor `a` of the first set and descriptor `b` of the second.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Match {
    /// Index in the first set.
    pub a: u32,
    /// Index in the second set.
    pub b: u32,
    /// Euclidean distance between the two descriptors.
    pub distance: f32,
}

/// Reusable buffers of the matcher. Create one per thread and keep it.
#[derive(Debug, Default)]
pub struct Matcher {
    /// First set, packed in panels of `MR` rows, `k`-major: `pa[panel][k][r]`.
    packed_a: Vec<f32>,
    /// Second set, packed in panels of `NR` rows, `k`-major: `pb[panel][k][c]`.
    packed_b: Vec<f32>,
    /// Squared norms of the first set (+inf for padding rows).
    norm_a: Vec<f32>,
    /// Squared norms of the second set (+inf for padding columns).
    norm_b: Vec<f32>,
    /// Per row of the first set and per lane (column mod `NR`): best squared distance.
    row_best: Vec<f32>,
    /// Per row and lane: second-best squared distance.
    row_second: Vec<f32>,
    /// Per row and lane: column of the best.
    row_index: Vec<u32>,
    /// Per column of the second set: best squared distance.
    col_best: Vec<f32>,
    /// Per column: row of the best.
    col_index: Vec<u32>,
}

/// Best neighbour of one row of the first set after the lane reduction.
#[derive(Debug, Clone, Copy)]
struct RowResult {
    best: f32,
    second: f32,
    index: u32,
}

impl Matcher {
    /// A matcher with empty buffers (they grow on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Matches `a` (`a.len() / dim` descriptors, row-major) against `b` and writes the matches,
    /// sorted by index in `a`, into `out` (cleared first).
    ///
    /// Errors when `dim` is 0 or a slice length is not a multiple of `dim`; empty sets give no
    /// matches. Descriptors with non-finite values never match.
    pub fn match_descriptors(
        &mut self,
        a: &[f32],
        b: &[f32],
        dim: usize,
        params: &MatchParams,
        out: &mut Vec<Match>,
    ) -> Result<(), Error> {
        out.clear();
        params.validate()?;
        if dim == 0 {
            return Err(Error::Input(
                "descriptor dimension must be positive, got 0".into(),
            ));
        }
        for (name, set) in [("first", a), ("second", b)] {
            if set.len() % dim != 0 {
                return Err(Error::Input(format!(
                    "the {name} descriptor set has {} values, not a multiple of the dimension {dim}",
                    set.len()
                )));
            }
        }
        let (n, m) = (a.len() / dim, b.len() / dim);
        if n == 0 || m == 0 {
            return Ok(());
        }
        if n > u32::MAX as usize / 2 || m > u32::MAX as usize / 2 {
            return Err(Error::Input(format!(
                "too many descriptors to match ({n} x {m})"
            )));
        }
        self.nearest_neighbours(a, b, n, m, dim);

        let ratio2 = params.ratio * params.ratio;
        let max_d2 = if params.max_distance.is_finite() {
            params.max_distance * params.max_distance
        } else {
            f32::INFINITY
        };
        for i in 0..n {
            let r = self.reduce_row(i);
            if r.index as usize >= m || !r.best.is_finite() {
                continue;
            }
            let d2 = r.best.max(0.0);
            if d2 > max_d2 {
                continue;
            }
            if params.ratio < 1.0 && d2 >= ratio2 * r.second.max(0.0) {
                continue;
            }
            if params.mutual && self.col_index[r.index as usize] as usize != i {
                continue;
            }
            out.push(Match {
                a: i as u32,
                b: r.index,
                distance: d2.sqrt(),
            });
        }
        Ok(())
    }

    /// Best and second-best neighbour of row `i`, merging the per-lane results (ties go to the
    /// smaller column index).
    fn reduce_row(&self, i: usize) -> RowResult {
        let best = &self.row_best[i * NR..(i + 1) * NR];
        let second = &self.row_second[i * NR..(i + 1) * NR];
        let index = &self.row_index[i * NR..(i + 1) * NR];
        let mut lane = 0;
        for l in 1..NR {
            if best[l] < best[lane] || (best[l] == best[lane] && index[l] < index[lane]) {
                lane = l;
            }
        }
        let sec = best
            .iter()
            .enumerate()
            .filter(|&(l, _)| l != lane)
            .fold(second[lane], |acc, (_, &b)| acc.min(b));
        RowResult {
            best: best[lane],
            second: sec,
            index: index[lane],
        }
    }

    /// Fills the row and column neighbour buffers for `n x m` descriptors of length `dim`.
    fn nearest_neighbours(&mut self, a: &[f32], b: &[f32], n: usize, m: usize, dim: usize) {
        let panels_a = n.div_ceil(MR);
        let panels_b = m.div_ceil(NR);
        let off_a = pack(
            a,
            n,
            dim,
            MR,
            panels_a,
            &mut self.packed_a,
            &mut self.norm_a,
        );
        let off_b = pack(
            b,
            m,
            dim,
            NR,
            panels_b,
            &mut self.packed_b,
            &mut self.norm_b,
        );
        let packed_a = &self.packed_a[off_a..];
        let packed_b = &self.packed_b[off_b..];
        let rows = panels_a * MR;
        reset(&mut self.row_best, rows * NR, f32::INFINITY);
        reset(&mut self.row_second, rows * NR, f32::INFINITY);
        reset(&mut self.row_index, rows * NR, u32::MAX);
        reset(&mut self.col_best, panels_b * NR, f32::INFINITY);
        reset(&mut self.col_index, panels_b * NR, u32::MAX);

        let panels_per_block = (BLOCK_BYTES / (MR * dim * 4)).max(1);
        let mut state = State {
            row_best: &mut self.row_best,
            row_second: &mut self.row_second,
            row_index: &mut self.row_index,
            col_best: &mut self.col_best,
            col_index: &mut self.col_index,
        };
        let kernel = select_kernel();
        for block_start in (0..panels_a).step_by(panels_per_block) {
            let block_end = (block_start + panels_per_block).min(panels_a);
            for pb in 0..panels_b {
                let panel_b = &packed_b[pb * NR * dim..(pb + 1) * NR * dim];
                let norms_b: &[f32; NR] = self.norm_b[pb * NR..(pb + 1) * NR]
                    .try_into()
                    .expect("NR norms per panel");
                let mut pa = block_start;
                while pa < block_end {
                    // The wide kernel takes several A panels at once; the rest goes one by one.
                    let (f, count) = if pa + kernel.panels <= block_end {
                        (kernel.f, kernel.panels)
                    } else {
                        (kernel.single, 1)
                    };
                    let tile = Tile {
                        a: &packed_a[pa * MR * dim..(pa + count) * MR * dim],
                        b: panel_b,
                        norms_a: &self.norm_a[pa * MR..(pa + count) * MR],
                        norms_b,
                        dim,
                        row0: pa * MR,
                        col0: pb * NR,
                    };
                    f(&tile, &mut state);
                    pa += count;
                }
            }
        }
    }
}

fn reset<T: Copy>(v: &mut Vec<T>, len: usize, value: T) {
    v.clear();
    v.resize(len, value);
}

/// Packs `count` descriptors of `src` into `panels` panels of `width` rows, `k`-major, padding with
/// zeros, and stores squared norms (+inf for padding so that padding never wins).
fn pack(
    src: &[f32],
    count: usize,
    dim: usize,
    width: usize,
    panels: usize,
    packed: &mut Vec<f32>,
    norms: &mut Vec<f32>,
) -> usize {
    // Panels start on a 64-byte boundary so that vector loads never straddle cache lines.
    const ALIGN_FLOATS: usize = 16;
    packed.clear();
    packed.resize(panels * width * dim + ALIGN_FLOATS, 0.0);
    let offset = packed.as_ptr().align_offset(64).min(ALIGN_FLOATS);
    let packed = &mut packed[offset..offset + panels * width * dim];
    norms.clear();
    norms.resize(panels * width, f32::INFINITY);
    for (row, d) in src.chunks_exact(dim).take(count).enumerate() {
        let norm: f32 = d.iter().map(|v| v * v).sum();
        // A descriptor with non-finite values never matches (its norm is +inf, values stay 0).
        if !norm.is_finite() {
            continue;
        }
        norms[row] = norm;
        let (panel, r) = (row / width, row % width);
        let block = &mut packed[panel * width * dim..(panel + 1) * width * dim];
        for (slot, &v) in block.chunks_exact_mut(width).zip(d) {
            slot[r] = v;
        }
    }
    offset
}

/// One micro-kernel call: one or more `MR`-row panels of the first set against an `NR`-row panel
/// of the second set.
struct Tile<'a> {
    a: &'a [f32],
    b: &'a [f32],
    norms_a: &'a [f32],
    norms_b: &'a [f32; NR],
    dim: usize,
    row0: usize,
    col0: usize,
}

/// The running nearest-neighbour state.
struct State<'a> {
    row_best: &'a mut [f32],
    row_second: &'a mut [f32],
    row_index: &'a mut [u32],
    col_best: &'a mut [f32],
    col_index: &'a mut [u32],
}

type KernelFn = fn(&Tile<'_>, &mut State<'_>);

/// A micro-kernel taking `panels` A panels per call, and one for a single leftover panel.
#[derive(Clone, Copy)]
struct Kernel {
    f: KernelFn,
    panels: usize,
    single: KernelFn,
}

fn select_kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel {
                    f: avx512::kernel,
                    panels: 2,
                    single: avx2::kernel,
                };
            }
            return Kernel {
                f: avx2::kernel,
                panels: 1,
                single: avx2::kernel,
            };
        }
    }
    Kernel {
        f: portable_kernel,
        panels: 1,
        single: portable_kernel,
    }
}

/// Folds a tile of squared distances into the running state: per row and lane the best and
/// second best, per column the best. `NaN` counts as +inf.
#[inline(always)]
fn update(d2: &[[f32; NR]; MR], row0: usize, col0: usize, state: &mut State<'_>) {
    let mut cbest = [f32::INFINITY; NR];
    let mut cidx = [u32::MAX; NR];
    for (r, row) in d2.iter().enumerate() {
        let i = row0 + r;
        let best: &mut [f32; NR] = (&mut state.row_best[i * NR..(i + 1) * NR])
            .try_into()
            .expect("NR lanes");
        let second: &mut [f32; NR] = (&mut state.row_second[i * NR..(i + 1) * NR])
            .try_into()
            .expect("NR lanes");
        let index: &mut [u32; NR] = (&mut state.row_index[i * NR..(i + 1) * NR])
            .try_into()
            .expect("NR lanes");
        for l in 0..NR {
            let v = if row[l].is_nan() {
                f32::INFINITY
            } else {
                row[l]
            };
            let better = v < best[l];
            second[l] = if better { best[l] } else { second[l].min(v) };
            index[l] = if better { (col0 + l) as u32 } else { index[l] };
            best[l] = if better { v } else { best[l] };
            let cb = v < cbest[l];
            cidx[l] = if cb { i as u32 } else { cidx[l] };
            cbest[l] = if cb { v } else { cbest[l] };
        }
    }
    let col_best: &mut [f32; NR] = (&mut state.col_best[col0..col0 + NR])
        .try_into()
        .expect("NR columns");
    let col_index: &mut [u32; NR] = (&mut state.col_index[col0..col0 + NR])
        .try_into()
        .expect("NR columns");
    for l in 0..NR {
        let better = cbest[l] < col_best[l];
        col_index[l] = if better { cidx[l] } else { col_index[l] };
        col_best[l] = if better { cbest[l] } else { col_best[l] };
    }
}

/// Portable micro-kernel (vectorised by the compiler for the baseline target).
fn portable_kernel(t: &Tile<'_>, state: &mut State<'_>) {
    let mut acc = [[0.0f32; NR]; MR];
    for k in 0..t.dim {
        let bk: &[f32; NR] = t.b[k * NR..(k + 1) * NR].try_into().expect("NR values");
        let ak: &[f32; MR] = t.a[k * MR..(k + 1) * MR].try_into().expect("MR values");
        for r in 0..MR {
            for c in 0..NR {
                acc[r][c] += ak[r] * bk[c];
            }
        }
    }
    let mut d2 = [[0.0f32; NR]; MR];
    for r in 0..MR {
        for c in 0..NR {
            d2[r][c] = t.norms_a[r] + t.norms_b[c] - 2.0 * acc[r][c];
        }
    }
    update(&d2, t.row0, t.col0, state);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{MR, NR, State, Tile, update};

    /// Safe entry point; only selected after run-time detection of AVX2 and FMA.
    pub(super) fn kernel(t: &Tile<'_>, state: &mut State<'_>) {
        // SAFETY: `select_kernel` returns this function only when the CPU supports AVX2 and FMA.
        unsafe { kernel_avx2(t, state) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel_avx2(t: &Tile<'_>, state: &mut State<'_>) {
        assert!(t.a.len() >= t.dim * MR && t.b.len() >= t.dim * NR);
        let (pa, pb) = (t.a.as_ptr(), t.b.as_ptr());
        let mut c00 = _mm256_setzero_ps();
        let mut c01 = _mm256_setzero_ps();
        let mut c10 = _mm256_setzero_ps();
        let mut c11 = _mm256_setzero_ps();
        let mut c20 = _mm256_setzero_ps();
        let mut c21 = _mm256_setzero_ps();
        let mut c30 = _mm256_setzero_ps();
        let mut c31 = _mm256_setzero_ps();
        let mut c40 = _mm256_setzero_ps();
        let mut c41 = _mm256_setzero_ps();
        let mut c50 = _mm256_setzero_ps();
        let mut c51 = _mm256_setzero_ps();
        for k in 0..t.dim {
            // SAFETY: k < dim and the panels hold dim * MR and dim * NR values (asserted above).
            unsafe {
                let b0 = _mm256_loadu_ps(pb.add(k * NR));
                let b1 = _mm256_loadu_ps(pb.add(k * NR + 8));
                let ak = pa.add(k * MR);
                let a0 = _mm256_broadcast_ss(&*ak);
                c00 = _mm256_fmadd_ps(a0, b0, c00);
                c01 = _mm256_fmadd_ps(a0, b1, c01);
                let a1 = _mm256_broadcast_ss(&*ak.add(1));
                c10 = _mm256_fmadd_ps(a1, b0, c10);
                c11 = _mm256_fmadd_ps(a1, b1, c11);
                let a2 = _mm256_broadcast_ss(&*ak.add(2));
                c20 = _mm256_fmadd_ps(a2, b0, c20);
                c21 = _mm256_fmadd_ps(a2, b1, c21);
                let a3 = _mm256_broadcast_ss(&*ak.add(3));
                c30 = _mm256_fmadd_ps(a3, b0, c30);
                c31 = _mm256_fmadd_ps(a3, b1, c31);
                let a4 = _mm256_broadcast_ss(&*ak.add(4));
                c40 = _mm256_fmadd_ps(a4, b0, c40);
                c41 = _mm256_fmadd_ps(a4, b1, c41);
                let a5 = _mm256_broadcast_ss(&*ak.add(5));
                c50 = _mm256_fmadd_ps(a5, b0, c50);
                c51 = _mm256_fmadd_ps(a5, b1, c51);
            }
        }
        let acc = [
            [c00, c01],
            [c10, c11],
            [c20, c21],
            [c30, c31],
            [c40, c41],
            [c50, c51],
        ];
        let mut d2 = [[0.0f32; NR]; MR];
        let minus_two = _mm256_set1_ps(-2.0);
        // SAFETY: the norm arrays hold exactly NR values; d2 rows hold NR values.
        unsafe {
            let nb0 = _mm256_loadu_ps(t.norms_b.as_ptr());
            let nb1 = _mm256_loadu_ps(t.norms_b.as_ptr().add(8));
            for r in 0..MR {
                let na = _mm256_set1_ps(t.norms_a[r]);
                let s0 = _mm256_fmadd_ps(minus_two, acc[r][0], _mm256_add_ps(na, nb0));
                let s1 = _mm256_fmadd_ps(minus_two, acc[r][1], _mm256_add_ps(na, nb1));
                _mm256_storeu_ps(d2[r].as_mut_ptr(), s0);
                _mm256_storeu_ps(d2[r].as_mut_ptr().add(8), s1);
            }
        }
        update(&d2, t.row0, t.col0, state);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{MR, NR, State, Tile, update};

    /// Safe entry point; only selected after run-time detection of AVX-512F.
    pub(super) fn kernel(t: &Tile<'_>, state: &mut State<'_>) {
        // SAFETY: `select_kernel` returns this function only when the CPU supports AVX-512F.
        unsafe { kernel_avx512(t, state) }
    }

    /// Two A panels (2 x MR rows) against one B panel (NR = 16 columns, one zmm register):
    /// 12 accumulators, the A values are broadcast straight from memory into the FMAs.
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel_avx512(t: &Tile<'_>, state: &mut State<'_>) {
        const _: () = assert!(NR == 16 && MR == 6);
        assert!(
            t.a.len() >= 2 * t.dim * MR && t.b.len() >= t.dim * NR && t.norms_a.len() >= 2 * MR
        );
        let pb = t.b.as_ptr();
        let pa0 = t.a.as_ptr();
        // SAFETY: the second panel starts MR * dim values later (asserted above).
        let pa1 = unsafe { pa0.add(MR * t.dim) };
        let mut c = [_mm512_setzero_ps(); 2 * MR];
        for k in 0..t.dim {
            // SAFETY: k < dim and the panels hold dim * MR and dim * NR values (asserted above).
            unsafe {
                let b = _mm512_loadu_ps(pb.add(k * NR));
                let a0 = pa0.add(k * MR);
                let a1 = pa1.add(k * MR);
                for r in 0..MR {
                    c[r] = _mm512_fmadd_ps(_mm512_set1_ps(*a0.add(r)), b, c[r]);
                    c[MR + r] = _mm512_fmadd_ps(_mm512_set1_ps(*a1.add(r)), b, c[MR + r]);
                }
            }
        }
        let minus_two = _mm512_set1_ps(-2.0);
        let mut d2 = [[0.0f32; NR]; MR];
        for half in 0..2 {
            // SAFETY: norms_b holds NR = 16 values; each d2 row holds 16 values.
            unsafe {
                let nb = _mm512_loadu_ps(t.norms_b.as_ptr());
                for r in 0..MR {
                    let na = _mm512_set1_ps(t.norms_a[half * MR + r]);
                    let s = _mm512_fmadd_ps(minus_two, c[half * MR + r], _mm512_add_ps(na, nb));
                    _mm512_storeu_ps(d2[r].as_mut_ptr(), s);
                }
            }
            update(&d2, t.row0 + half * MR, t.col0, state);
        }
    }
}

/// Brute-force reference: for every row of `a`, the nearest row of `b` (used by tests).
#[doc(hidden)]
pub fn brute_force_nearest(a: &[f32], b: &[f32], dim: usize) -> Vec<Option<(usize, f32)>> {
    a.chunks_exact(dim)
        .map(|x| {
            let mut best: Option<(usize, f32)> = None;
            for (j, y) in b.chunks_exact(dim).enumerate() {
                let d: f32 = x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum();
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((j, d));
                }
            }
            best.map(|(j, d)| (j, d.sqrt()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    fn random_unit(n: usize, dim: usize, rng: &mut Pcg64) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        for d in v.chunks_exact_mut(dim) {
            crate::postprocess::normalize(d);
        }
        v
    }

    fn run(a: &[f32], b: &[f32], dim: usize, p: MatchParams) -> Vec<Match> {
        let mut out = Vec::new();
        Matcher::new()
            .match_descriptors(a, b, dim, &p, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn permutation_is_recovered_exactly() {
        let mut rng = Pcg64::seed_from_u64(1);
        for (n, dim) in [(1, 256), (7, 256), (100, 128), (33, 5), (250, 256)] {
            let a = random_unit(n, dim, &mut rng);
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                perm.swap(i, rng.random_range(0..=i));
            }
            // b[j] = a[perm[j]], so a[i] matches b[j] with perm[j] == i.
            let b: Vec<f32> = perm
                .iter()
                .flat_map(|&i| a[i * dim..(i + 1) * dim].to_vec())
                .collect();
            let m = run(&a, &b, dim, MatchParams::default());
            assert_eq!(m.len(), n, "n={n} dim={dim}");
            for x in &m {
                assert_eq!(perm[x.b as usize], x.a as usize);
                assert!(x.distance < 1e-3, "distance {}", x.distance);
            }
        }
    }

    #[test]
    fn agrees_with_brute_force() {
        let mut rng = Pcg64::seed_from_u64(2);
        for (n, m, dim) in [(50, 37, 256), (13, 200, 128), (97, 101, 3), (6, 16, 17)] {
            let a = random_unit(n, dim, &mut rng);
            let b = random_unit(m, dim, &mut rng);
            let nn_ab = brute_force_nearest(&a, &b, dim);
            let nn_ba = brute_force_nearest(&b, &a, dim);
            let p = MatchParams {
                mutual: false,
                ..MatchParams::default()
            };
            let all = run(&a, &b, dim, p);
            assert_eq!(all.len(), n);
            for x in &all {
                let (j, d) = nn_ab[x.a as usize].unwrap();
                assert_eq!(x.b as usize, j);
                assert!((x.distance - d).abs() < 1e-4);
            }
            let mutual = run(&a, &b, dim, MatchParams::default());
            let expected: Vec<(usize, usize)> = (0..n)
                .filter_map(|i| {
                    let (j, _) = nn_ab[i]?;
                    (nn_ba[j]?.0 == i).then_some((i, j))
                })
                .collect();
            let got: Vec<(usize, usize)> = mutual
                .iter()
                .map(|x| (x.a as usize, x.b as usize))
                .collect();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn ratio_test_and_max_distance() {
        // a0 has two nearly equal neighbours: rejected by the ratio test. a1 has one clear one.
        let a = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let s = 0.5f32.sqrt();
        let b = [s, s, 0.0, s, -s, 0.0, 0.0, 0.9, 0.1];
        let p = MatchParams {
            mutual: false,
            ratio: 0.8,
            ..Default::default()
        };
        let m = run(&a, &b, 3, p);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].a, m[0].b), (1, 2));
        let p = MatchParams {
            mutual: false,
            max_distance: 0.5,
            ..Default::default()
        };
        let m = run(&a, &b, 3, p);
        assert_eq!(m.len(), 1);
        assert!(m[0].distance <= 0.5);
        assert_eq!((m[0].a, m[0].b), (1, 2));
    }

    #[test]
    fn bad_and_empty_inputs() {
        let mut out = vec![Match {
            a: 0,
            b: 0,
            distance: 0.0,
        }];
        let mut mt = Matcher::new();
        let p = MatchParams::default();
        mt.match_descriptors(&[], &[1.0, 0.0], 2, &p, &mut out)
            .unwrap();
        assert!(out.is_empty());
        assert!(
            mt.match_descriptors(&[1.0], &[1.0], 0, &p, &mut out)
                .is_err()
        );
        assert!(
            mt.match_descriptors(&[1.0, 2.0, 3.0], &[1.0, 0.0], 2, &p, &mut out)
                .is_err()
        );
        let bad = MatchParams { ratio: 0.0, ..p };
        assert!(
            mt.match_descriptors(&[1.0], &[1.0], 1, &bad, &mut out)
                .is_err()
        );
        let bad = MatchParams {
            max_distance: f32::NAN,
            ..p
        };
        assert!(
            mt.match_descriptors(&[1.0], &[1.0], 1, &bad, &mut out)
                .is_err()
        );
        // Non-finite descriptors never match, finite ones still do.
        mt.match_descriptors(&[f32::NAN, 0.0, 1.0, 0.0], &[1.0, 0.0], 2, &p, &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].a, out[0].b), (1, 0));
    }

    #[test]
    fn portable_and_simd_kernels_agree() {
        let mut rng = Pcg64::seed_from_u64(3);
        let (n, m, dim) = (40, 50, 64);
        let a = random_unit(n, dim, &mut rng);
        let b = random_unit(m, dim, &mut rng);
        let mut mt = Matcher::new();
        let mut simd = Vec::new();
        mt.match_descriptors(&a, &b, dim, &MatchParams::default(), &mut simd)
            .unwrap();
        // Recompute with the portable kernel only.
        let panels_a = n.div_ceil(MR);
        let panels_b = m.div_ceil(NR);
        let off_a = pack(&a, n, dim, MR, panels_a, &mut mt.packed_a, &mut mt.norm_a);
        let off_b = pack(&b, m, dim, NR, panels_b, &mut mt.packed_b, &mut mt.norm_b);
        reset(&mut mt.row_best, panels_a * MR * NR, f32::INFINITY);
        reset(&mut mt.row_second, panels_a * MR * NR, f32::INFINITY);
        reset(&mut mt.row_index, panels_a * MR * NR, u32::MAX);
        reset(&mut mt.col_best, panels_b * NR, f32::INFINITY);
        reset(&mut mt.col_index, panels_b * NR, u32::MAX);
        let mut state = State {
            row_best: &mut mt.row_best,
            row_second: &mut mt.row_second,
            row_index: &mut mt.row_index,
            col_best: &mut mt.col_best,
            col_index: &mut mt.col_index,
        };
        for pb in 0..panels_b {
            for pa in 0..panels_a {
                let tile = Tile {
                    a: &mt.packed_a[off_a + pa * MR * dim..off_a + (pa + 1) * MR * dim],
                    b: &mt.packed_b[off_b + pb * NR * dim..off_b + (pb + 1) * NR * dim],
                    norms_a: &mt.norm_a[pa * MR..(pa + 1) * MR],
                    norms_b: mt.norm_b[pb * NR..(pb + 1) * NR].try_into().unwrap(),
                    dim,
                    row0: pa * MR,
                    col0: pb * NR,
                };
                portable_kernel(&tile, &mut state);
            }
        }
        let mut portable = Vec::new();
        for i in 0..n {
            let r = mt.reduce_row(i);
            if mt.col_index[r.index as usize] as usize == i {
                portable.push((i as u32, r.index));
            }
        }
        let simd: Vec<(u32, u32)> = simd.iter().map(|x| (x.a, x.b)).collect();
        assert_eq!(simd, portable);
    }
}
