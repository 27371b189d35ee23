package dev.peft4j.models.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.tokenizer.ByteTokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GeneratorTest {
    private final LlamaConfig config = LlamaConfig.of(32, 64, 2, 4, 2, ByteTokenizer.VOCAB_SIZE, 48, true);
    private final LlamaModel model = new LlamaModel(LlamaWeights.random(config, 5, 0.3f));

    @Test
    void greedyGenerationIsTheArgmaxOfAFullForwardAtEveryStep() {
        int[] prompt = {1, 50, 60, 70};
        Generator.Result r = new Generator(model).generate(prompt, 12, Sampling.greedy(), -1, null);
        assertEquals(12, r.generatedIds().length);
        assertEquals(Generator.Stop.MAX_TOKENS, r.stop());
        int[] seq = prompt;
        for (int i = 0; i < 12; i++) {
            float[][] all = model.forwardAll(seq);
            int next = Sampler.argmax(all[seq.length - 1]);
            assertEquals(next, r.generatedIds()[i], "token " + i);
            seq = java.util.Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = next;
        }
    }

    @Test
    void stopsAtEosWithoutEmittingIt() {
        int[] prompt = {1, 50};
        Generator.Result free = new Generator(model).generate(prompt, 5, Sampling.greedy(), -1, null);
        int eos = free.generatedIds()[2];
        Generator.Result r = new Generator(model).generate(prompt, 5, Sampling.greedy(), eos, null);
        assertEquals(Generator.Stop.EOS, r.stop());
        assertArrayEquals(java.util.Arrays.copyOf(free.generatedIds(), indexOf(free.generatedIds(), eos)), r.generatedIds());
    }

    @Test
    void stopsWhenTheContextIsFull() {
        Generator.Result r = new Generator(model).generate(new int[]{1, 2, 3}, 1000, Sampling.greedy(), -1, null);
        assertEquals(Generator.Stop.CONTEXT, r.stop());
        assertEquals(config.maxSeqLen() - 3 + 1, r.generatedIds().length); // the last token needs no further forward
    }

    @Test
    void streamsTextThatDecodesToTheResult() {
        ByteTokenizer tok = new ByteTokenizer();
        List<String> pieces = new ArrayList<>();
        Generator.Result r = new Generator(model).generate(tok, "héllo", true, 20, new Sampling(1f, 0, 1f, 3), pieces::add);
        assertEquals(tok.decode(r.generatedIds()), String.join("", pieces));
    }

    @Test
    void refusesAPromptThatFillsTheContext() {
        var e = assertThrows(UserException.class, () -> new Generator(model).generate(new int[48], 1, Sampling.greedy(), -1, null));
        assertEquals("the prompt has 48 tokens but the model's context length is 48 (the prompt must leave room for at least one new token)", e.getMessage());
    }

    private static int indexOf(int[] a, int x) {
        for (int i = 0; i < a.length; i++) if (a[i] == x) return i;
        return -1;
    }
}
