package dev.peft4j.models.data;

import dev.peft4j.api.UserException;
import dev.peft4j.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;
import org.eclipse.collections.impl.list.mutable.primitive.IntArrayList;

/**
 * Prepares a dataset for training: reads it (see {@link DataFile} for compression and archives),
 * tokenizes it once, splits it into training and validation sets and summarises it.
 *
 * <ul>
 *   <li>Instruction data (Alpaca, Dolly): each example becomes {@link TokenizedExample#encode} of
 *       its Alpaca prompt and output, cut to {@code maxSeqLength}; a seeded shuffle puts
 *       {@code valSize} examples in validation and the rest in training.
 *   <li>Plain text: the document becomes one stream {@code [BOS] + tokens + [EOS]}; its last
 *       {@code valFraction} of tokens is validation. A large text is tokenized in pieces of about
 *       {@value #TEXT_CHUNK} characters, each ending at a line break, so it never is one String;
 *       a text smaller than that is tokenized exactly as a whole.
 * </ul>
 */
public final class Datasets {
    /** Characters of plain text tokenized at a time (a piece runs on to the next line break). */
    static final int TEXT_CHUNK = 1 << 22;

    private Datasets() {}

    /**
     * Reads and tokenizes {@code source} (a path or {@code archive!member}); {@code format} null
     * means: from the file name.
     */
    public static PreparedDataset prepare(String source, DatasetFormat format, Tokenizer tokenizer, PrepareOptions options) {
        try (DataFile file = DataFile.open(source, format)) {
            DatasetFormat f = format != null ? format : DatasetFormat.detect(file.dataName());
            if (f == null) {
                throw new UserException(file.name() + ": cannot tell the dataset format from the name; use .json (Alpaca), .jsonl (Dolly) or .txt,"
                        + " or give the format");
            }
            return f == DatasetFormat.TEXT ? prepareText(file, tokenizer, options) : prepareInstructions(file, f, tokenizer, options);
        } catch (IOException e) {
            throw new UserException(source + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** Streams the examples of an instruction dataset to {@code sink}; returns the skipped lines. */
    public static SkippedLines readExamples(String source, DatasetFormat format, boolean skipBadLines, Consumer<Example> sink) {
        try (DataFile file = DataFile.open(source, format)) {
            DatasetFormat f = format != null ? format : DatasetFormat.detect(file.dataName());
            if (f == null || f == DatasetFormat.TEXT) throw new UserException(file.name() + ": not an Alpaca .json or Dolly .jsonl dataset");
            return InstructionReader.read(file, f, skipBadLines, sink);
        } catch (IOException e) {
            throw new UserException(source + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static PreparedDataset prepareInstructions(DataFile file, DatasetFormat format, Tokenizer tok, PrepareOptions o) {
        ExampleSet.Builder all = new ExampleSet.Builder();
        int[] truncated = {0};
        SkippedLines skipped = InstructionReader.read(file, format, o.skipBadLines(), ex -> {
            TokenizedExample t = TokenizedExample.encode(tok, ex, o.maskPrompt(), o.maxSeqLength());
            if (t.truncated()) truncated[0]++;
            all.add(t);
        });
        int n = all.size();
        if (n == 0) {
            throw new UserException(file.name() + ": the dataset has no examples" + (skipped.count() > 0 ? " (" + skipped + ")" : ""));
        }
        if (o.valSize() >= n) {
            throw new UserException(file.name() + ": the validation size " + o.valSize() + " must be smaller than the number of examples, " + n
                    + " (lower the validation size: --val-size on the command line)");
        }
        ExampleSet examples = all.build();
        int[] perm = Shuffle.permutation(n, o.seed());
        int nTrain = n - o.valSize();
        ExampleSet train = examples.select(Arrays.copyOfRange(perm, 0, nTrain));
        ExampleSet val = examples.select(Arrays.copyOfRange(perm, nTrain, n));
        DatasetSummary s = new DatasetSummary(file.name(), false, n, train.size(), val.size(), train.tokenCount(), val.tokenCount(),
                examples.longest(), truncated[0], examples.withoutTargets(), skipped);
        return new PreparedDataset(s, o, tok.vocabSize(), train, val);
    }

    private static PreparedDataset prepareText(DataFile file, Tokenizer tok, PrepareOptions o) throws IOException {
        IntArrayList ids = new IntArrayList();
        if (tok.bos() >= 0) ids.add(tok.bos());
        Reader in = new InputStreamReader(file.stream(), StandardCharsets.UTF_8.newDecoder());
        char[] buf = new char[TEXT_CHUNK];
        StringBuilder piece = new StringBuilder();
        boolean any = false;
        try {
            for (int r; (r = in.read(buf)) >= 0; ) {
                if (!any && r > 0 && buf[0] == '\uFEFF') piece.append(buf, 1, r - 1);
                else piece.append(buf, 0, r);
                any |= r > 0;
                int cut = piece.length() >= TEXT_CHUNK ? piece.lastIndexOf("\n") : -1;
                if (cut < 0 && piece.length() >= 8 * TEXT_CHUNK) cut = safeCut(piece); // no line break in 32M characters
                if (cut >= 0) {
                    ids.addAll(tok.encode(piece.substring(0, cut + 1), false, false));
                    piece.delete(0, cut + 1);
                }
            }
        } catch (CharacterCodingException e) {
            throw new UserException(file.name() + ": not valid UTF-8 text", e);
        }
        if (!piece.isEmpty()) ids.addAll(tok.encode(piece.toString(), false, false));
        int bos = tok.bos() >= 0 ? 1 : 0;
        if (ids.size() == bos) throw new UserException(file.name() + ": the text is empty");
        if (tok.eos() >= 0) ids.add(tok.eos());
        int[] all = ids.toArray();
        int nTrain = (int) (all.length * (1 - o.valFraction()));
        if (o.valFraction() > 0 && (nTrain < 2 || all.length - nTrain < 2)) {
            throw new UserException(file.name() + ": " + all.length + " tokens are too few to keep " + o.valFraction() + " of them for validation");
        }
        ExampleSet train = ExampleSet.of(Arrays.copyOfRange(all, 0, nTrain), new int[] {nTrain}, new int[1]);
        ExampleSet val = nTrain < all.length
                ? ExampleSet.of(Arrays.copyOfRange(all, nTrain, all.length), new int[] {all.length - nTrain}, new int[1])
                : ExampleSet.empty();
        DatasetSummary s = new DatasetSummary(file.name(), true, 1, 1, val.size(), train.tokenCount(), val.tokenCount(), all.length, 0, 0,
                SkippedLines.NONE);
        return new PreparedDataset(s, o, tok.vocabSize(), train, val);
    }

    /** The last index of the first part of a piece with no line break: before its last space, else not inside a surrogate pair. */
    private static int safeCut(StringBuilder piece) {
        int space = piece.lastIndexOf(" ");
        if (space > 0) return space - 1;
        int end = piece.length() - 1;
        return Character.isHighSurrogate(piece.charAt(end)) ? end - 1 : end;
    }
}
