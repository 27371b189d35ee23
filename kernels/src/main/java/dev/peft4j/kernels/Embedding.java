package dev.peft4j.kernels;

/** Token embedding lookup: out[i][:] = table[tokens[i]][:]. */
public final class Embedding {
    private Embedding() {}

    /** out [n][dim] = table [vocab][dim] rows at tokens [n]. */
    public static void forward(float[] out, float[] table, int[] tokens, int n, int dim) {
        for (@Parallel int i = 0; i < n; i++) {
            System.arraycopy(table, tokens[i] * dim, out, i * dim, dim);
        }
    }

    /** dTable [vocab][dim] += dOut [n][dim] scattered by tokens [n]. Sequential: tokens repeat. */
    public static void backward(float[] dTable, float[] dOut, int[] tokens, int n, int dim) {
        for (int i = 0; i < n; i++) {
            int row = tokens[i] * dim;
            for (int j = 0; j < dim; j++) dTable[row + j] += dOut[i * dim + j];
        }
    }
}
