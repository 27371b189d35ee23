package dev.peft4j.models;

/**
 * The shape of a LLaMA-architecture model.
 *
 * @param dim          model width (hidden_size)
 * @param hiddenDim    SwiGLU inner width (intermediate_size)
 * @param nLayers      transformer blocks
 * @param nHeads       query heads
 * @param nKvHeads     key/value heads (GQA when fewer than nHeads)
 * @param vocabSize    vocabulary size
 * @param maxSeqLen    context length
 * @param normEps      RMSNorm epsilon
 * @param ropeTheta    RoPE base
 * @param ropeScaling  LLaMA 3.1 scaling, or null
 * @param tiedEmbeddings whether the classifier is the token embedding table
 */
public record LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int maxSeqLen,
                          float normEps, float ropeTheta, RopeScaling ropeScaling, boolean tiedEmbeddings) {

    public LlamaConfig {
        require(dim > 0, "dim must be positive, got " + dim);
        require(hiddenDim > 0, "hidden_dim must be positive, got " + hiddenDim);
        require(nLayers > 0, "n_layers must be positive, got " + nLayers);
        require(nHeads > 0 && dim % nHeads == 0, "dim " + dim + " must be a positive multiple of n_heads " + nHeads);
        require(nKvHeads > 0 && nHeads % nKvHeads == 0, "n_heads " + nHeads + " must be a multiple of n_kv_heads " + nKvHeads);
        require((dim / nHeads) % 2 == 0, "head size " + dim / nHeads + " must be even for RoPE");
        require(vocabSize > 0, "vocab_size must be positive, got " + vocabSize);
        require(maxSeqLen > 0, "max_seq_len must be positive, got " + maxSeqLen);
        require(normEps > 0, "norm_eps must be positive, got " + normEps);
        require(ropeTheta > 0, "rope_theta must be positive, got " + ropeTheta);
    }

    /** A llama2.c-style config: eps 1e-5, theta 10000, no rope scaling. */
    public static LlamaConfig of(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int maxSeqLen, boolean tied) {
        return new LlamaConfig(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, maxSeqLen, 1e-5f, 10000f, null, tied);
    }

    public int headDim() { return dim / nHeads; }

    /** Width of the key and value projections: nKvHeads * headDim. */
    public int kvDim() { return nKvHeads * headDim(); }

    /** Query heads sharing one key/value head. */
    public int kvGroup() { return nHeads / nKvHeads; }

    public LlamaConfig withMaxSeqLen(int newMaxSeqLen) {
        return new LlamaConfig(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, newMaxSeqLen, normEps, ropeTheta, ropeScaling, tiedEmbeddings);
    }

    public LlamaConfig withTiedEmbeddings(boolean tied) {
        return new LlamaConfig(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, maxSeqLen, normEps, ropeTheta, ropeScaling, tied);
    }

    /** Number of parameters, counting a tied classifier once. */
    public long parameterCount() {
        long perLayer = 2L * dim + (long) dim * dim * 2 + 2L * dim * kvDim() + 3L * dim * hiddenDim;
        return (long) vocabSize * dim * (tiedEmbeddings ? 1 : 2) + nLayers * perLayer + dim;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
