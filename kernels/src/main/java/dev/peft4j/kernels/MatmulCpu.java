package dev.peft4j.kernels;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU fast path of {@link Matmul}: same methods, same layouts, same results up to float
 * rounding. {@code x [n][in]}, {@code w [out][in]}, {@code y [n][out]}, all row-major from
 * their offsets.
 *
 * <p>Two kernels behind the three ops:
 * <ul>
 *   <li><b>Dot rows</b>, for the forward with few rows of x: four rows of w against the rows of
 *       x per pass (decoding, n = 1: one row of w at a time, four accumulators deep), so the
 *       weights stream from memory once; split over output rows. This is bound by memory
 *       bandwidth, as a matvec should be. The forward
 *       with few rows of w (a LoRA down-projection, rank 8) uses it too, split over rows of x,
 *       and so does backwardInput with few columns of w (over wᵀ, transposed once).
 *   <li><b>Packed GEMM</b>, for everything else: {@code C[m][n] (+)= A[m][k]·B[k][n]} where A
 *       and B are read through strides, so the three ops are the same loop nest with different
 *       strides (forward B = wᵀ, backwardInput B = w, backwardWeight A = dyᵀ). Blocks of B
 *       ({@code KC×NC}, sized for L2) and A ({@code MC×KC}) are copied into contiguous panels,
 *       and an MR-row × 2-vector register tile (MR = 6, or 4 with AVX2's 16 registers) does
 *       broadcast-FMAs over them (2·MR accumulators, 2 vector loads and MR broadcasts per 2·MR
 *       FMAs). A product with fewer columns than a tile
 *       (a LoRA rank of 8) is computed transposed, Cᵀ = Bᵀ·Aᵀ, so its long side fills the
 *       vectors. Threads split the rows of C, or its columns when there are few rows; each C
 *       element is written by one thread only, so gradients accumulate without races.
 * </ul>
 *
 * <p>All buffers are per thread and allocated once; a call allocates only its task lambda.
 */
public final class MatmulCpu {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Lane pairings i ↔ i ^ half, for half = L/2 .. 1: a fixed summation tree (see {@link #sum}). */
    private static final VectorShuffle<Float>[] FOLDS = folds();

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] folds() {
        int steps = Integer.numberOfTrailingZeros(L);
        VectorShuffle<Float>[] f = new VectorShuffle[steps];
        for (int k = 0, half = L / 2; k < steps; k++, half /= 2) {
            int h = half;
            f[k] = VectorShuffle.fromOp(S, i -> i ^ h);
        }
        return f;
    }

    /**
     * The sum of a vector's lanes in a fixed order. {@code reduceLanes(ADD)} sums in an order that
     * differs between the JIT's intrinsic and the interpreter's fallback, so results would depend on
     * when a method got compiled; this tree of lane-wise adds rounds the same way everywhere, which
     * keeps training runs (and their resumes) bit-for-bit reproducible.
     */
    static float sum(FloatVector v) {
        for (VectorShuffle<Float> f : FOLDS) v = v.add(v.rearrange(f));
        return v.lane(0);
    }
    /**
     * Register tile: MR rows of C by NR = 2 vectors of columns. The tile needs MR·2 accumulators, 2
     * vectors of B and, as C2 schedules the loop, all MR broadcasts of A live at once: 3·MR + 2
     * registers. With 32 vector registers (AVX-512, AArch64) that allows 6 rows; with AVX2's 16 it
     * allows 4 (6 rows made C2 spill an accumulator to the stack on every step, which halved the
     * kernel's speed on a Zen 3). The rows past 4 are code behind {@code MR == 6}, folded away by the JIT.
     */
    private static final int MR = vectorRegisters() >= 32 ? 6 : 4, NR = 2 * L;
    /** Cache blocks: a packed B block is KC×NC (L2), a packed A block MC×KC (MC a multiple of either MR). */
    private static final int KC = 256, MC = 96, NC = 16 * NR;
    /**
     * A sum up to this long stays one K block instead of two short ones (the model dimension 288 was
     * two blocks of 144: every tile of C stored, reloaded and stored again, and twice the kernel calls
     * for the same work; one block measured 14-24% faster on a Zen 3).
     */
    private static final int KC_MAX = KC + KC / 4;

    /** Vector registers the JIT can allocate: 32 with AVX-512 or on AArch64, else (AVX2) 16. */
    private static int vectorRegisters() {
        return S.vectorBitSize() >= 512 || "aarch64".equals(System.getProperty("os.arch")) ? 32 : 16;
    }
    /** The forward takes the dot-row kernel up to this many rows of x (or for fewer than NR outputs). */
    private static final int DOT_MAX_ROWS = 4;
    /** Below this many multiply-adds a call stays on the calling thread. */
    private static final long PARALLEL_MIN_MACS = 1 << 15;

    /**
     * Rows of A packed at once: each K block of A is packed once for up to this many rows and then
     * used against every column block of B, so A is not repacked per column block (the classifier's
     * forward, 256 rows against 32000 columns, repacked it 32 times per thread).
     */
    private static final int A_ROWS = 1024;
    /** Per-thread buffers: [KC_MAX*NC] packed B, [A_ROWS*KC_MAX] packed A, then [MR][NR] for an edge tile. */
    private static final int PA = KC_MAX * NC, EDGE = KC_MAX * (NC + A_ROWS);
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[EDGE + MR * NR]);
    /** Per-thread buffer for a transposed weight with few columns, grown on demand. */
    private static final ThreadLocal<float[]> TRANSPOSED = ThreadLocal.withInitial(() -> new float[0]);

    private MatmulCpu() {}

    /** The width in bits of the vectors these kernels use (the platform's preferred float species). */
    public static int vectorBits() {
        return S.vectorBitSize();
    }

    /** y = x·wᵀ, overwriting y. y[n][out], x[n][in], w[out][in]. */
    public static void forward(float[] y, int yOff, float[] x, int xOff, float[] w, int wOff,
                               int n, int in, int out) {
        if (n <= 0 || out <= 0) return;
        if (in <= 0) {
            Arrays.fill(y, yOff, yOff + n * out, 0f);
        } else if (n == 1) { // decode: one row of x, each row of w streamed on its own (faster than four interleaved)
            run(out, (long) in * out, (from, to) -> {
                for (int o = from; o < to; o++) y[yOff + o] = dot(x, xOff, w, wOff + o * in, in);
            });
        } else if (n <= DOT_MAX_ROWS) { // a few rows of x: split the weight rows
            Threads.RangeTask task = (from, to) -> {
                for (int g = from; g < to; g++) dotRows(y, yOff, x, xOff, w, wOff, 0, n, in, out, 4 * g, false);
            };
            run((out + 3) / 4, (long) n * in * out, task);
        } else if (out < NR) { // a few weight rows (a LoRA down-projection): split the rows of x
            Threads.RangeTask task = (from, to) -> {
                for (int o = 0; o < out; o += 4) dotRows(y, yOff, x, xOff, w, wOff, from, to, in, out, o, false);
            };
            run(n, (long) n * in * out, task);
        } else {
            gemm(y, yOff, out, false, x, xOff, in, 1, w, wOff, 1, in, n, out, in);
        }
    }

    /** dx += dy·w. dx[n][in], dy[n][out], w[out][in]. */
    public static void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, float[] w, int wOff,
                                     int n, int in, int out) {
        if (n <= 0 || in <= 0 || out <= 0) return;
        if (in < NR && n > DOT_MAX_ROWS) {
            // A few input columns (a LoRA up-projection's rank): dx[i][k] += dy[i]·wᵀ[k], dot rows
            // over wᵀ [in][out], transposed once into this thread's buffer and split over rows of dy.
            float[] wt = TRANSPOSED.get();
            if (wt.length < in * out) TRANSPOSED.set(wt = new float[in * out]);
            for (int o = 0; o < out; o++)
                for (int k = 0; k < in; k++) wt[k * out + o] = w[wOff + o * in + k];
            float[] wT = wt;
            Threads.RangeTask task = (from, to) -> {
                for (int k = 0; k < in; k += 4) dotRows(dx, dxOff, dy, dyOff, wT, 0, from, to, out, in, k, true);
            };
            run(n, (long) n * in * out, task);
        } else {
            gemm(dx, dxOff, in, true, dy, dyOff, out, 1, w, wOff, in, 1, n, in, out);
        }
    }

    /** dw += dyᵀ·x. dw[out][in], dy[n][out], x[n][in]. */
    public static void backwardWeight(float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff,
                                      int n, int in, int out) {
        if (in < NR && out > in) {
            backwardWeightFewColumns(dw, dwOff, dy, dyOff, x, xOff, n, in, out);
        } else {
            gemm(dw, dwOff, in, true, dy, dyOff, 1, out, x, xOff, in, 1, out, in, n);
        }
    }

    /**
     * dw [out][in] += dyᵀ·x with few input columns (a LoRA up-projection's rank): each thread owns
     * a range of outputs and accumulates dwᵀ [in][its outputs] with broadcast FMAs over rows of dy,
     * then adds it into dw. Every element is summed over n in order, so the result does not depend
     * on the split.
     */
    private static void backwardWeightFewColumns(float[] dw, int dwOff, float[] dy, int dyOff, float[] x, int xOff,
                                                 int n, int in, int out) {
        Threads.RangeTask task = (from, to) -> {
            int width = to - from;
            float[] acc = TRANSPOSED.get();
            if (acc.length < in * width) TRANSPOSED.set(acc = new float[in * width]);
            Arrays.fill(acc, 0, in * width, 0f);
            int bound = from + S.loopBound(width);
            for (int i = 0; i < n; i++) {
                int dyRow = dyOff + i * out, xRow = xOff + i * in;
                for (int k = 0; k < in; k++) {
                    float xk = x[xRow + k];
                    if (xk == 0f) continue;
                    FloatVector xv = FloatVector.broadcast(S, xk);
                    int a = k * width - from, o = from;
                    for (; o < bound; o += L) {
                        FloatVector.fromArray(S, dy, dyRow + o).fma(xv, FloatVector.fromArray(S, acc, a + o)).intoArray(acc, a + o);
                    }
                    for (; o < to; o++) acc[a + o] += dy[dyRow + o] * xk;
                }
            }
            for (int o = from; o < to; o++)
                for (int k = 0; k < in; k++) dw[dwOff + o * in + k] += acc[k * width + o - from];
        };
        int parts = Math.max(1, Math.min(Threads.threads(), out / L));
        run(parts, (long) n * in * out, (p0, p1) -> {
            for (int p = p0; p < p1; p++) task.run((int) ((long) out * p / parts), (int) ((long) out * (p + 1) / parts));
        });
    }

    private static void run(int parts, long macs, Threads.RangeTask task) {
        if (macs < PARALLEL_MIN_MACS) task.run(0, parts);
        else Threads.parallelFor(parts, task);
    }

    // ---------------------------------------------------------------- dot rows (few rows of x)

    /**
     * y[i][o0..o0+3] = (or +=) x[i]·w[o] for rows i in [i0, i1) of x: up to four rows of w, read
     * from memory once. y [n][out], x [n][in], w [out][in].
     */
    private static void dotRows(float[] y, int yOff, float[] x, int xOff, float[] w, int wOff,
                                int i0, int i1, int in, int out, int o0, boolean add) {
        if (o0 + 4 > out) {
            for (int o = o0; o < out; o++)
                for (int i = i0; i < i1; i++) {
                    float d = dot(x, xOff + i * in, w, wOff + o * in, in);
                    y[yOff + i * out + o] = add ? y[yOff + i * out + o] + d : d;
                }
            return;
        }
        int w0 = wOff + o0 * in, w1 = w0 + in, w2 = w1 + in, w3 = w2 + in;
        int bound = S.loopBound(in);
        for (int i = i0; i < i1; i++) {
            int xi = xOff + i * in;
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            int k = 0;
            for (; k < bound; k += L) {
                FloatVector xv = FloatVector.fromArray(S, x, xi + k);
                s0 = FloatVector.fromArray(S, w, w0 + k).fma(xv, s0);
                s1 = FloatVector.fromArray(S, w, w1 + k).fma(xv, s1);
                s2 = FloatVector.fromArray(S, w, w2 + k).fma(xv, s2);
                s3 = FloatVector.fromArray(S, w, w3 + k).fma(xv, s3);
            }
            if (k < in) {
                VectorMask<Float> m = S.indexInRange(k, in);
                FloatVector xv = FloatVector.fromArray(S, x, xi + k, m);
                s0 = FloatVector.fromArray(S, w, w0 + k, m).fma(xv, s0);
                s1 = FloatVector.fromArray(S, w, w1 + k, m).fma(xv, s1);
                s2 = FloatVector.fromArray(S, w, w2 + k, m).fma(xv, s2);
                s3 = FloatVector.fromArray(S, w, w3 + k, m).fma(xv, s3);
            }
            int yi = yOff + i * out + o0;
            float d0 = sum(s0), d1 = sum(s1), d2 = sum(s2), d3 = sum(s3);
            if (add) {
                y[yi] += d0;
                y[yi + 1] += d1;
                y[yi + 2] += d2;
                y[yi + 3] += d3;
            } else {
                y[yi] = d0;
                y[yi + 1] = d1;
                y[yi + 2] = d2;
                y[yi + 3] = d3;
            }
        }
    }

    /**
     * a·b over len values: four vector accumulators, so consecutive FMAs do not wait on each other's
     * latency (a single row of a decode step streams from memory at the rate the FMAs retire).
     */
    private static float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        int k = 0;
        for (int bound = len - 4 * L; k <= bound; k += 4 * L) {
            s0 = FloatVector.fromArray(S, a, aOff + k).fma(FloatVector.fromArray(S, b, bOff + k), s0);
            s1 = FloatVector.fromArray(S, a, aOff + k + L).fma(FloatVector.fromArray(S, b, bOff + k + L), s1);
            s2 = FloatVector.fromArray(S, a, aOff + k + 2 * L).fma(FloatVector.fromArray(S, b, bOff + k + 2 * L), s2);
            s3 = FloatVector.fromArray(S, a, aOff + k + 3 * L).fma(FloatVector.fromArray(S, b, bOff + k + 3 * L), s3);
        }
        for (int bound = S.loopBound(len); k < bound; k += L)
            s0 = FloatVector.fromArray(S, a, aOff + k).fma(FloatVector.fromArray(S, b, bOff + k), s0);
        if (k < len) {
            VectorMask<Float> m = S.indexInRange(k, len);
            s1 = FloatVector.fromArray(S, a, aOff + k, m).fma(FloatVector.fromArray(S, b, bOff + k, m), s1);
        }
        return sum(s0.add(s1).add(s2.add(s3)));
    }

    // ---------------------------------------------------------------- packed GEMM

    /**
     * Packs B(pc..pc+kc, jc..jc+nc) into {@code pb} as panels of {@link #NR} columns: panel p holds (kk, j)
     * at p*kc*NR + kk*NR + j, zero-padded past the last column ({@link #packB}'s layout). The GEMM asks
     * for one block at a time, on the thread that uses it, so B may be produced on the fly (a compressed
     * weight decoded into the panel: {@link FrozenMatmulCpu}) instead of read from a float array.
     */
    interface BPacker {
        void pack(float[] pb, int pc, int kc, int jc, int nc);
    }

    /** Columns of one packed panel of B (two vectors). */
    static int panelWidth() {
        return NR;
    }

    /**
     * C (+)= A·B with C(i,j) = c[cOff + i*ldc + j], A(i,p) = a[aOff + i*ars + p*acs],
     * B(p,j) = b[bOff + p*brs + j*bcs]; C is m×nn, the sum runs over k.
     */
    static void gemm(float[] c, int cOff, int ldc, boolean accumulate,
                             float[] a, int aOff, int ars, int acs,
                             float[] b, int bOff, int brs, int bcs, int m, int nn, int k) {
        if (m <= 0 || nn <= 0 || k <= 0) return;
        gemm(c, cOff, ldc, 1, accumulate, a, aOff, ars, acs, (pb, pc, kc, jc, nc) -> packB(pb, b, bOff, brs, bcs, pc, kc, jc, nc), 1, m, nn, k);
    }

    /**
     * C (+)= A·B as above with B's blocks from {@code b}; every K block but the last starts at a
     * multiple of {@code kAlign} (a compressed weight's block of values, at most {@link #KC}).
     */
    static void gemm(float[] c, int cOff, int ldc, boolean accumulate,
                     float[] a, int aOff, int ars, int acs, BPacker b, int kAlign, int m, int nn, int k) {
        if (m <= 0 || nn <= 0 || k <= 0) return;
        if (kAlign < 1 || kAlign > KC) throw new IllegalArgumentException("K blocks aligned to " + kAlign + " (1 to " + KC + ")");
        gemm(c, cOff, ldc, 1, accumulate, a, aOff, ars, acs, b, kAlign, m, nn, k);
    }

    /**
     * A product with a long sum and a small C (the classifier's input gradient: 256 x 288 over 32000
     * logits) is split along k: blocks of {@link #K_SPLIT_BLOCK} fixed by position, each block's
     * product into its own partial C, then the partials added in block order. Neither a row nor a
     * column split can balance a C of 9 column panels over 2 threads, and both make every thread pack
     * all of one operand. The choice depends on the shape only, so the sums are the same for any
     * thread count.
     */
    private static final int K_SPLIT_BLOCK = 2048, K_SPLIT_MIN_K = 2 * K_SPLIT_BLOCK, K_SPLIT_MAX_C = 1 << 17;
    /** Per calling thread: the partial Cs of a k-split product. */
    private static final ThreadLocal<float[]> PARTIALS = ThreadLocal.withInitial(() -> new float[0]);

    private static boolean splitK(int m, int nn, int k) {
        return k >= K_SPLIT_MIN_K && (long) m * nn <= K_SPLIT_MAX_C && k >= 8L * (m + nn);
    }

    /** As above with C(i,j) = c[cOff + i*crs + j*ccs]. */
    private static void gemm(float[] c, int cOff, int crs, int ccs, boolean accumulate,
                             float[] a, int aOff, int ars, int acs,
                             BPacker b, int kAlign, int m, int nn, int k) {
        if (splitK(m, nn, k)) {
            gemmSplitK(c, cOff, crs, ccs, accumulate, a, aOff, ars, acs, b, kAlign, m, nn, k);
            return;
        }
        int mBlocks = (m + MR - 1) / MR, nPanels = (nn + NR - 1) / NR;
        // Each thread packs all of B when threads split the rows, all of A when they split the columns:
        // split the longer side (so the larger operand is packed once overall), if it gives every thread work.
        int enough = 2 * Threads.threads();
        boolean splitRows = m >= nn ? mBlocks >= enough || mBlocks >= nPanels : nPanels < enough && mBlocks >= nPanels;
        Threads.RangeTask task = (from, to) -> {
            float[] scratch = SCRATCH.get();
            if (splitRows)
                gemmBlock(scratch, c, cOff, crs, ccs, accumulate, a, aOff, ars, acs, b, kAlign, k,
                        from * MR, Math.min(m, to * MR), 0, nn);
            else
                gemmBlock(scratch, c, cOff, crs, ccs, accumulate, a, aOff, ars, acs, b, kAlign, k,
                        0, m, from * NR, Math.min(nn, to * NR));
        };
        // one range of blocks per thread, so each thread packs its operands once
        int blocks = splitRows ? mBlocks : nPanels, parts = Math.min(blocks, Threads.threads());
        run(parts, (long) m * nn * k, (p0, p1) -> task.run((int) ((long) blocks * p0 / parts), (int) ((long) blocks * p1 / parts)));
    }

    /** C (+)= A·B as the sum of fixed k blocks' products (see {@link #splitK}); the blocks in parallel, then their sum by rows. */
    private static void gemmSplitK(float[] c, int cOff, int crs, int ccs, boolean accumulate,
                                   float[] a, int aOff, int ars, int acs,
                                   BPacker b, int kAlign, int m, int nn, int k) {
        int blocks = (k + K_SPLIT_BLOCK - 1) / K_SPLIT_BLOCK, size = m * nn;
        float[] partials = PARTIALS.get();
        if (partials.length < blocks * size) PARTIALS.set(partials = new float[blocks * size]);
        float[] p = partials;
        Threads.parallelFor(blocks, (from, to) -> {
            float[] scratch = SCRATCH.get();
            for (int blk = from; blk < to; blk++) {
                int k0 = blk * K_SPLIT_BLOCK, kb = Math.min(K_SPLIT_BLOCK, k - k0);
                BPacker block = (pb, pc, kc, jc, nc) -> b.pack(pb, k0 + pc, kc, jc, nc); // K_SPLIT_BLOCK is a multiple of every kAlign
                gemmBlock(scratch, p, blk * size, nn, 1, false, a, aOff + k0 * acs, ars, acs, block, kAlign, kb, 0, m, 0, nn);
            }
        });
        Threads.parallelFor(m, (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int j = 0; j < nn; j++) {
                    float sum = p[i * nn + j];
                    for (int blk = 1; blk < blocks; blk++) sum += p[blk * size + i * nn + j];
                    int o = cOff + i * crs + j * ccs;
                    c[o] = accumulate ? c[o] + sum : sum;
                }
            }
        });
    }

    /**
     * C rows [m0, m1) × columns [n0, n1), the whole sum, on this thread. For each chunk of up to
     * {@link #A_ROWS} rows and each K block, A is packed once and B block by block; every C element
     * still sums its K blocks in order, so the result does not depend on the blocking.
     */
    private static void gemmBlock(float[] scratch, float[] c, int cOff, int crs, int ccs, boolean accumulate,
                                  float[] a, int aOff, int ars, int acs,
                                  BPacker b, int kAlign, int k,
                                  int m0, int m1, int n0, int n1) {
        int kBlocks = k <= KC_MAX ? 1 : (k + KC - 1) / KC, kStep = (k + kBlocks - 1) / kBlocks; // even K blocks, each <= KC_MAX
        if (kAlign > 1) kStep = Math.max(kAlign, kStep / kAlign * kAlign); // block-aligned, still <= KC_MAX
        for (int ib = m0; ib < m1; ib += A_ROWS) {
            int ie = Math.min(m1, ib + A_ROWS);
            for (int pc = 0; pc < k; pc += kStep) {
                int kc = Math.min(kStep, k - pc);
                boolean add = accumulate || pc > 0;
                packA(scratch, PA, a, aOff, ars, acs, ib, ie - ib, pc, kc);
                for (int jc = n0; jc < n1; jc += NC) {
                    int nc = Math.min(NC, n1 - jc);
                    b.pack(scratch, pc, kc, jc, nc);
                    for (int ic = ib; ic < ie; ic += MC) {
                        int mc = Math.min(MC, ie - ic), aBlock = PA + (ic - ib) * kc;
                        for (int jr = 0; jr < nc; jr += NR) {
                            int cols = Math.min(NR, nc - jr), bBase = jr * kc;
                            for (int ir = 0; ir < mc; ir += MR)
                                kernel(scratch, aBlock + ir * kc, bBase, kc,
                                        c, cOff + (ic + ir) * crs + (jc + jr) * ccs, crs, ccs, Math.min(MR, mc - ir), cols, add);
                        }
                    }
                }
            }
        }
    }

    /**
     * Packs B(pc..pc+kc, jc..jc+nc) as panels of NR columns: panel p holds (kk, j) at
     * p*kc*NR + kk*NR + j, zero-padded past the last column.
     */
    private static void packB(float[] pb, float[] b, int bOff, int brs, int bcs, int pc, int kc, int jc, int nc) {
        for (int jr = 0; jr < nc; jr += NR) {
            int base = jr * kc, cols = Math.min(NR, nc - jr);
            if (bcs == 1 && cols == NR) {
                int src = bOff + pc * brs + jc + jr;
                for (int kk = 0; kk < kc; kk++, src += brs) {
                    FloatVector.fromArray(S, b, src).intoArray(pb, base + kk * NR);
                    FloatVector.fromArray(S, b, src + L).intoArray(pb, base + kk * NR + L);
                }
            } else {
                for (int j = 0; j < NR; j++) {
                    int dst = base + j;
                    if (j < cols) {
                        int src = bOff + pc * brs + (jc + jr + j) * bcs;
                        for (int kk = 0; kk < kc; kk++) pb[dst + kk * NR] = b[src + kk * brs];
                    } else {
                        for (int kk = 0; kk < kc; kk++) pb[dst + kk * NR] = 0f;
                    }
                }
            }
        }
    }

    /**
     * Packs A(ic..ic+mc, pc..pc+kc) as blocks of MR rows: the block at row ir holds (r, kk) at
     * paOff + ir*kc + kk*MR + r, zero-padded past the last row.
     */
    private static void packA(float[] pa, int paOff, float[] a, int aOff, int ars, int acs,
                              int ic, int mc, int pc, int kc) {
        if (ars == 1 && acs != 1) {
            // A stored transposed (a gradient's dyᵀ): memory runs along i, so read each kk's mc values in one sweep
            int whole = mc / MR * MR;
            for (int kk = 0; kk < kc; kk++) {
                int src = aOff + ic + (pc + kk) * acs, dst = paOff + kk * MR;
                for (int ir = 0; ir < whole; ir += MR, dst += MR * kc)
                    for (int r = 0; r < MR; r++) pa[dst + r] = a[src + ir + r];
                if (whole < mc) {
                    for (int r = 0; r < MR; r++) pa[dst + r] = whole + r < mc ? a[src + whole + r] : 0f;
                }
            }
            return;
        }
        for (int ir = 0; ir < mc; ir += MR) {
            int base = paOff + ir * kc, rows = Math.min(MR, mc - ir);
            int src = aOff + (ic + ir) * ars + pc * acs;
            if (rows == MR) { // the loop over a constant MR rows unrolls
                for (int kk = 0, dst = base; kk < kc; kk++, src += acs, dst += MR)
                    for (int r = 0; r < MR; r++) pa[dst + r] = a[src + r * ars];
                continue;
            }
            for (int kk = 0; kk < kc; kk++, src += acs) {
                int dst = base + kk * MR;
                for (int r = 0; r < rows; r++) pa[dst + r] = a[src + r * ars];
                for (int r = rows; r < MR; r++) pa[dst + r] = 0f;
            }
        }
    }

    /** The MR×NR register tile over packed A (at aBase) and packed B (at bBase), kc deep. */
    private static void kernel(float[] p, int aBase, int bBase, int kc,
                               float[] c, int cBase, int crs, int ccs, int rows, int cols, boolean add) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z,
                c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
        for (int kk = 0; kk < kc; kk++) {
            int bi = bBase + kk * NR, ai = aBase + kk * MR;
            FloatVector b0 = FloatVector.fromArray(S, p, bi), b1 = FloatVector.fromArray(S, p, bi + L), a;
            a = FloatVector.broadcast(S, p[ai]); c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(S, p[ai + 1]); c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(S, p[ai + 2]); c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(S, p[ai + 3]); c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            if (MR == 6) {
                a = FloatVector.broadcast(S, p[ai + 4]); c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
                a = FloatVector.broadcast(S, p[ai + 5]); c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
            }
        }
        if (rows == MR && cols == NR && ccs == 1) {
            // a whole tile: vectors straight to C (kept in this method so C2 never boxes them across a call)
            if (add) {
                c00 = c00.add(FloatVector.fromArray(S, c, cBase)); c01 = c01.add(FloatVector.fromArray(S, c, cBase + L));
                c10 = c10.add(FloatVector.fromArray(S, c, cBase + crs)); c11 = c11.add(FloatVector.fromArray(S, c, cBase + crs + L));
                c20 = c20.add(FloatVector.fromArray(S, c, cBase + 2 * crs)); c21 = c21.add(FloatVector.fromArray(S, c, cBase + 2 * crs + L));
                c30 = c30.add(FloatVector.fromArray(S, c, cBase + 3 * crs)); c31 = c31.add(FloatVector.fromArray(S, c, cBase + 3 * crs + L));
                if (MR == 6) {
                    c40 = c40.add(FloatVector.fromArray(S, c, cBase + 4 * crs)); c41 = c41.add(FloatVector.fromArray(S, c, cBase + 4 * crs + L));
                    c50 = c50.add(FloatVector.fromArray(S, c, cBase + 5 * crs)); c51 = c51.add(FloatVector.fromArray(S, c, cBase + 5 * crs + L));
                }
            }
            c00.intoArray(c, cBase); c01.intoArray(c, cBase + L);
            c10.intoArray(c, cBase + crs); c11.intoArray(c, cBase + crs + L);
            c20.intoArray(c, cBase + 2 * crs); c21.intoArray(c, cBase + 2 * crs + L);
            c30.intoArray(c, cBase + 3 * crs); c31.intoArray(c, cBase + 3 * crs + L);
            if (MR == 6) {
                c40.intoArray(c, cBase + 4 * crs); c41.intoArray(c, cBase + 4 * crs + L);
                c50.intoArray(c, cBase + 5 * crs); c51.intoArray(c, cBase + 5 * crs + L);
            }
        } else {
            // an edge tile: through the scratch tile [MR][NR], then element by element
            c00.intoArray(p, EDGE); c01.intoArray(p, EDGE + L);
            c10.intoArray(p, EDGE + NR); c11.intoArray(p, EDGE + NR + L);
            c20.intoArray(p, EDGE + 2 * NR); c21.intoArray(p, EDGE + 2 * NR + L);
            c30.intoArray(p, EDGE + 3 * NR); c31.intoArray(p, EDGE + 3 * NR + L);
            if (MR == 6) {
                c40.intoArray(p, EDGE + 4 * NR); c41.intoArray(p, EDGE + 4 * NR + L);
                c50.intoArray(p, EDGE + 5 * NR); c51.intoArray(p, EDGE + 5 * NR + L);
            }
            storeEdge(p, c, cBase, crs, ccs, rows, cols, add);
        }
    }

    /** Writes (or adds) rows x cols of the scratch tile at EDGE to C. */
    private static void storeEdge(float[] p, float[] c, int cBase, int crs, int ccs, int rows, int cols, boolean add) {
        for (int i = 0; i < rows; i++) {
            int off = cBase + i * crs, t = EDGE + i * NR;
            if (add) for (int j = 0; j < cols; j++) c[off + j * ccs] += p[t + j];
            else for (int j = 0; j < cols; j++) c[off + j * ccs] = p[t + j];
        }
    }
}
