/**
 * Datasets for fine-tuning: readers for Alpaca JSON, Dolly JSONL and plain text (plain, compressed
 * or inside an archive), the Alpaca prompt template, tokenization with a prompt loss mask, the
 * train/validation split, a binary cache of the prepared tokens, and loaders that turn prepared
 * tokens into training {@link dev.peft4j.models.train.Batch}es.
 *
 * <p>The path of a dataset through here: {@link Datasets#prepare} reads and tokenizes once,
 * {@link DatasetCache} keeps the result, and a {@link DataLoader} serves batches to training.
 */
package dev.peft4j.models.data;
