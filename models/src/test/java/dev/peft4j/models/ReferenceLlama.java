package dev.peft4j.models;

import dev.peft4j.kernels.reference.Reference;

/** The whole forward pass from the reference kernels: the oracle for {@link LlamaModel}. */
final class ReferenceLlama {
    private ReferenceLlama() {}

    /** Logits [n][vocab] for a sequence starting at position 0. */
    static float[][] logits(LlamaWeights w, int[] tokens) {
        LlamaConfig c = w.config;
        int n = tokens.length, d = c.dim(), kv = c.kvDim(), hid = c.hiddenDim();
        int[] pos = new int[n];
        for (int i = 0; i < n; i++) pos[i] = i;
        double[] inv = LlamaModel.inverseFrequencies(c);
        float[] x = new float[n * d], xb = new float[n * d], q = new float[n * d], k = new float[n * kv], v = new float[n * kv];
        float[] a = new float[n * d], o = new float[n * d], g = new float[n * hid], u = new float[n * hid];
        Reference.embedding(x, w.tokenEmbedding.toF32(), tokens, n, d);
        for (int l = 0; l < c.nLayers(); l++) {
            Reference.rmsnorm(xb, x, w.attnNorm[l], n, d, c.normEps());
            Reference.matmul(q, xb, w.wq[l].toF32(), n, d, d);
            Reference.matmul(k, xb, w.wk[l].toF32(), n, d, kv);
            Reference.matmul(v, xb, w.wv[l].toF32(), n, d, kv);
            Reference.rope(q, n, c.nHeads(), c.headDim(), pos, inv);
            Reference.rope(k, n, c.nKvHeads(), c.headDim(), pos, inv);
            Reference.attention(a, q, k, v, n, 0, c.nHeads(), c.nKvHeads(), c.headDim());
            Reference.matmul(o, a, w.wo[l].toF32(), n, d, d);
            for (int i = 0; i < n * d; i++) x[i] += o[i];
            Reference.rmsnorm(xb, x, w.ffnNorm[l], n, d, c.normEps());
            Reference.matmul(g, xb, w.wGate[l].toF32(), n, d, hid);
            Reference.matmul(u, xb, w.wUp[l].toF32(), n, d, hid);
            Reference.swiglu(g, g, u, n * hid);
            Reference.matmul(o, g, w.wDown[l].toF32(), n, hid, d);
            for (int i = 0; i < n * d; i++) x[i] += o[i];
        }
        Reference.rmsnorm(xb, x, w.finalNorm, n, d, c.normEps());
        float[] flat = new float[n * c.vocabSize()];
        Reference.matmul(flat, xb, w.classifier.toF32(), n, d, c.vocabSize());
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) out[i] = java.util.Arrays.copyOfRange(flat, i * c.vocabSize(), (i + 1) * c.vocabSize());
        return out;
    }
}
