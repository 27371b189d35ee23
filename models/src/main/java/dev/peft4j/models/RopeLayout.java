package dev.peft4j.models;

/**
 * Converts query/key projection rows between the two RoPE pairings found in checkpoints.
 *
 * <p>Meta's and llama2.c's checkpoints pair rows {@code (2i, 2i+1)} of each head; Hugging Face's
 * (and peft4j's canonical layout) pair rows {@code (i, i + headDim/2)}. Within head {@code h}:
 * {@code hf[h*hd + half*hd/2 + i] = meta[h*hd + 2i + half]}.
 */
public final class RopeLayout {
    private RopeLayout() {}

    /** Meta/llama2.c rows to Hugging Face rows. {@code w} is {@code [heads*headDim][cols]}. */
    public static float[] metaToHf(float[] w, int heads, int headDim, int cols) {
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int s = 0; s < 2; s++)
                    System.arraycopy(w, (h * headDim + 2 * i + s) * cols, out, (h * headDim + s * half + i) * cols, cols);
        return out;
    }

    /** Hugging Face rows to Meta/llama2.c rows; the inverse of {@link #metaToHf}. */
    public static float[] hfToMeta(float[] w, int heads, int headDim, int cols) {
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int s = 0; s < 2; s++)
                    System.arraycopy(w, (h * headDim + s * half + i) * cols, out, (h * headDim + 2 * i + s) * cols, cols);
        return out;
    }
}
