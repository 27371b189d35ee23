package dev.peft4j.models.tokenizer;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Encodes about 100 KB of text with each tokenizer and prints the time (no timing assertion: the numbers are
 * evidence for the report, not a pass/fail criterion). Also checks the long input round-trips, which would
 * catch a merge loop that loses or reorders symbols on long sequences.
 */
class TokenizerSpeedTest {

    private static String hundredKb() {
        String prose = SentencePieceTokenizerTest.read(Fixtures.resource("prose.txt"));
        StringBuilder sb = new StringBuilder();
        for (int i = 0; sb.length() < 100_000; i++) sb.append(prose).append("\n\u65e5\u672c\u8a9e \uD83E\uDD99 ").append(i).append('\n');
        return sb.toString();
    }

    @Test
    void smallModels() {
        time(SentencePieceTokenizer.load(Fixtures.resource("bpe-bytefallback.model")));
        time(SentencePieceTokenizer.load(Fixtures.resource("unigram-rules.model")));
        time(HfTokenizer.load(Fixtures.resource("hf-bytelevel.tokenizer.json")));
    }

    @Test
    void llama2() {
        time(SentencePieceTokenizer.load(Fixtures.llama2("tokenizer.model")));
    }

    @Test
    void llama3() {
        String file = System.getProperty("PEFT4J_LLAMA3_TOKENIZER", System.getenv("PEFT4J_LLAMA3_TOKENIZER"));
        org.junit.jupiter.api.Assumptions.assumeTrue(file != null, "PEFT4J_LLAMA3_TOKENIZER is not set");
        time(HfTokenizer.load(java.nio.file.Path.of(file)));
    }

    private static void time(Tokenizer t) {
        String text = hundredKb();
        int[] ids = t.encode(text, false, false); // warm-up
        long best = Long.MAX_VALUE;
        for (int r = 0; r < 3; r++) {
            long t0 = System.nanoTime();
            ids = t.encode(text, false, false);
            best = Math.min(best, System.nanoTime() - t0);
        }
        System.out.printf("%s: %d chars -> %d ids in %.1f ms (best of 3)%n", t, text.length(), ids.length, best / 1e6);
        if (!(t instanceof SentencePieceTokenizer s && s.toString().contains("unigram"))) {
            assertEquals(text, t.decode(ids));
        }
    }
}
