package dev.peft4j.models.data;

/**
 * What preparing a dataset found, to print and to keep with the cache.
 *
 * @param source          the dataset's name (path, or {@code archive!member})
 * @param text            true for a plain-text stream, false for instruction examples
 * @param examples        examples read (1 for plain text)
 * @param trainExamples   examples in the training split
 * @param valExamples     examples in the validation split
 * @param trainTokens     tokens in the training split
 * @param valTokens       tokens in the validation split
 * @param longest         token count of the longest example, after truncation
 * @param truncated       examples cut to {@code maxSeqLength}
 * @param withoutTargets  examples left with no weighted target (the response was cut away)
 * @param skipped         bad records skipped
 */
public record DatasetSummary(String source, boolean text, int examples, int trainExamples, int valExamples, long trainTokens, long valTokens,
        int longest, int truncated, int withoutTargets, SkippedLines skipped) {

    /** One line for people, e.g. "alpaca.json: 52002 examples (50002 train, 2000 val), 6,543,210 tokens, ...". */
    public String describe() {
        if (text) {
            return String.format("%s: plain text, %,d tokens (%,d train, %,d val)", source, trainTokens + valTokens, trainTokens, valTokens);
        }
        return String.format("%s: %,d examples (%,d train, %,d val), %,d tokens, longest %,d, %,d truncated%s, %s", source, examples,
                trainExamples, valExamples, trainTokens + valTokens, longest, truncated,
                withoutTargets > 0 ? String.format(" (%,d lost their whole response)", withoutTargets) : "", skipped);
    }
}
