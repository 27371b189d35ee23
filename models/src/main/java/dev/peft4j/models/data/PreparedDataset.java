package dev.peft4j.models.data;

/**
 * A tokenized dataset split for training: what {@link Datasets#prepare} makes and
 * {@link DatasetCache} stores. For plain text, {@code train} and {@code val} each hold one stream.
 *
 * @param vocabSize the vocabulary size of the tokenizer that made it (every id is below it)
 * @param options   the options it was prepared with
 */
public record PreparedDataset(DatasetSummary summary, PrepareOptions options, int vocabSize, ExampleSet train, ExampleSet val) {
    /** Whether this is a plain-text stream (use {@link WindowLoader}) rather than examples ({@link ExampleLoader}). */
    public boolean isText() {
        return summary.text();
    }
}
