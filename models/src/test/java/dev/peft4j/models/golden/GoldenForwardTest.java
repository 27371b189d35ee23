package dev.peft4j.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.io.Safetensors;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.io.Checkpoints;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The forward pass and greedy generation against fixtures from an independent float64 PyTorch
 * LLaMA ({@code models/src/test/golden/make_golden.py}; its README says what each file holds).
 * Every checkpoint of every forward case is loaded through {@link Checkpoints#load}, so the
 * llama2.c and Hugging Face readers, RoPE layouts, GQA, tied/untied classifiers, llama3 RoPE
 * scaling and BF16 weights are all checked end to end.
 */
class GoldenForwardTest {
    /** max |ours - expected| / max |expected|, per position. */
    private static final double LOGITS_RTOL = 1e-4;
    private static final int NEW_TOKENS = 16;

    private static Path golden(String relative) {
        try {
            return Path.of(GoldenForwardTest.class.getResource("/golden/" + relative).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The expected values of one case, as written by make_golden.py (ids stored as F32). */
    private record Expected(int[] tokens, float[] logits, int[] prompt, int[] greedy, int vocab) {
        static Expected read(Path file) {
            try (Safetensors st = Safetensors.open(file)) {
                long[] shape = st.shape("logits"); // [T][vocab]
                Expected e = new Expected(ids(st.readFloats("tokens")), st.readFloats("logits"),
                        ids(st.readFloats("prompt")), ids(st.readFloats("greedy")), (int) shape[1]);
                assertEquals(e.tokens.length, shape[0], "logits rows vs tokens in " + file);
                return e;
            }
        }

        private static int[] ids(float[] f) {
            int[] out = new int[f.length];
            for (int i = 0; i < f.length; i++) {
                out[i] = (int) f[i];
                assertEquals(out[i], f[i], 0f, "token ids are whole numbers");
            }
            return out;
        }
    }

    @ParameterizedTest(name = "{0}/{1}")
    @CsvSource({
            "a1_tied, model.bin",
            "a1_tied, hf",
            "a2_untied, model.bin",
            "a2_untied, hf",
            "a3_gqa, model.bin",
            "a3_gqa, hf",
            "a4_llama3_rope, hf",
            "a5_bf16, hf",
    })
    void logitsAndGreedyMatchPyTorch(String caseName, String checkpoint) {
        String label = caseName + "/" + checkpoint;
        Expected want = Expected.read(golden(caseName + "/expected.safetensors"));
        LlamaWeights weights = Checkpoints.load(golden(caseName + "/" + checkpoint));
        assertEquals(want.vocab, weights.config.vocabSize(), label + " vocabulary");
        LlamaModel model = new LlamaModel(weights);

        float[][] got = model.forwardAll(want.tokens);
        int V = want.vocab;
        double worstRel = 0, worstAbs = 0;
        int worstPos = -1;
        for (int t = 0; t < want.tokens.length; t++) {
            double diff = 0, scale = 0;
            for (int v = 0; v < V; v++) {
                float e = want.logits[t * V + v];
                scale = Math.max(scale, Math.abs(e));
                diff = Math.max(diff, Math.abs(got[t][v] - e));
            }
            double rel = diff / scale;
            if (rel > worstRel || worstPos < 0) {
                worstRel = rel;
                worstAbs = diff;
                worstPos = t;
            }
        }
        System.out.printf("%-26s logits[0][0..3] ours % .6f % .6f % .6f % .6f%n", label, got[0][0], got[0][1], got[0][2], got[0][3]);
        System.out.printf("%-26s                 ref  % .6f % .6f % .6f % .6f%n", "",
                want.logits[0], want.logits[1], want.logits[2], want.logits[3]);
        System.out.printf("%-26s max |diff| %.3e at position %d, relative %.3e (tolerance %.0e) %s%n", "",
                worstAbs, worstPos, worstRel, LOGITS_RTOL, worstRel < LOGITS_RTOL ? "OK" : "NOT OK");
        assertTrue(worstRel < LOGITS_RTOL,
                label + ": logits at position " + worstPos + " differ by " + worstRel + " relative (tolerance " + LOGITS_RTOL + ")");

        int[] generated = new Generator(model).generate(want.prompt, NEW_TOKENS, Sampling.greedy(), -1, null).generatedIds();
        boolean same = Arrays.equals(generated, want.greedy);
        System.out.printf("%-26s greedy ours %s%n%-26s        ref  %s %s%n", "", Arrays.toString(generated), "",
                Arrays.toString(want.greedy), same ? "OK" : "NOT OK");
        assertArrayEquals(want.greedy, generated, label + ": greedy tokens");
    }
}
