package dev.peft4j.api;

/** The dimensions of the base model a method is installed on: all a plugin may know of it. */
public record ModelShape(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int maxSeqLen, boolean tiedEmbeddings) {
    public int headDim() { return dim / nHeads; }
    public int kvDim() { return nKvHeads * headDim(); }
}
