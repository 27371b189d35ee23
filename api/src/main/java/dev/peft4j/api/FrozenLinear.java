package dev.peft4j.api;

/**
 * A frozen base linear {@code y = x·Wᵀ}, {@code W [out][in]}, applied in the type its weight is
 * stored in (float32, BF16, Q8_0, ...): a method that only reads a base projection (LLaMA-Adapter's
 * k/v projections of its prompt) uses this instead of {@link InstallContext#baseWeight}, which
 * turns the weight into float32. Row-major {@code x [n][in]}, {@code y [n][out]} from their offsets.
 */
public interface FrozenLinear {
    /** Columns of W: the input width. */
    int in();

    /** Rows of W: the output width. */
    int out();

    /** y [n][out] = x [n][in]·Wᵀ, overwriting y. */
    void forward(float[] y, int yOff, float[] x, int xOff, int n);

    /** dx [n][in] += dy [n][out]·W. */
    void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, int n);

    /** Rows [r0, r1) of W as float32 into dst [r1 − r0][in] from dstOff: a few rows at a time (DoRA's row norms), never the whole matrix. */
    void decodeRows(int r0, int r1, float[] dst, int dstOff);

}
