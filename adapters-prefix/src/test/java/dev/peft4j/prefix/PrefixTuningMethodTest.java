package dev.peft4j.prefix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.generate.Generator;
import dev.peft4j.models.generate.Sampling;
import dev.peft4j.models.peft.AdapterFiles;
import dev.peft4j.models.peft.PeftMethodContract;
import dev.peft4j.models.peft.PeftModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrefixTuningMethodTest extends PeftMethodContract<PrefixTuningConfig> {
    @Override protected PeftMethod<PrefixTuningConfig> method() { return new PrefixTuningMethod(); }
    @Override protected PrefixTuningConfig config(LlamaConfig model) { return PrefixTuningConfig.of(3); }
    @Override protected boolean unchangedAtInit() { return false; }

    @Test
    void theTableFollowsPeftsLayout() {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 1);
        m.install(method(), PrefixTuningConfig.of(3));
        var table = m.trainableParameters().get(0);
        assertEquals("prompt_embeddings", table.name());
        assertArrayEquals(new int[]{3, 2 * 2 * 8}, table.shape(), "[P][layers * 2 * kvDim] with kvDim = 2 kv heads x 4");
        int[] tokens = batch(model(), 1, 6, 3).inputs();
        float[][] adapted = m.inferenceModel().forwardAll(tokens);
        float[][] plain = new dev.peft4j.models.LlamaModel(w).forwardAll(tokens);
        assertTrue(maxDiff(adapted[0], plain[0]) > 1e-4, "the prefix changes the output");
    }

    @Test
    void generationWithThePrefixCacheEqualsTheFullForward() {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 1);
        m.install(method(), PrefixTuningConfig.of(3));
        randomize(m, 3);
        var model = m.inferenceModel();
        Generator.Result r = new Generator(model).generate(new int[]{1, 5, 7}, 6, Sampling.greedy(), -1, null);
        int[] seq = {1, 5, 7};
        for (int i = 0; i < 6; i++) {
            float[][] all = model.forwardAll(seq);
            int next = dev.peft4j.models.generate.Sampler.argmax(all[seq.length - 1]);
            assertEquals(next, r.generatedIds()[i], "token " + i);
            seq = java.util.Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = next;
        }
    }

    @Test
    void projectionTrainsAnMlpAndSavesTheFoldedTable(@TempDir Path dir) throws Exception {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 1);
        m.install(method(), PrefixTuningConfig.projected(3, 12));
        assertEquals(5, m.trainableParameters().size());
        randomize(m, 5);
        int[] tokens = batch(model(), 1, 7, 2).inputs();
        float[][] want = m.inferenceModel().forwardAll(tokens);
        AdapterFiles.saveAll(m, dir, methods, null);
        String json = Files.readString(dir.resolve(AdapterFiles.CONFIG));
        assertTrue(json.contains("\"inference_mode\" : true") && json.contains("\"prefix_projection\" : true"), json);
        assertTrue(json.contains("\"token_dim\" : 8") && json.contains("\"num_attention_heads\" : 2"), "GQA: PEFT's kv width and heads: " + json);
        PeftModel loaded = new PeftModel(w, 2);
        AdapterFiles.load(loaded, dir, methods);
        assertEquals(1, loaded.trainableParameters().size(), "loads as a plain table");
        float[][] got = loaded.inferenceModel().forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) assertArrayEquals(want[t], got[t], 1e-5f);
    }

    @Test
    void projectedGradientsMatchFiniteDifferences() {
        LlamaWeights w = base();
        PeftModel m = new PeftModel(w, 5);
        m.install(method(), PrefixTuningConfig.projected(2, 6));
        randomize(m, 9);
        var b = batch(model(), 2, 5, 4);
        var trainer = m.trainer(2, 5, true);
        trainer.forwardBackward(b);
        for (var p : m.trainableParameters()) {
            double gmax = 0;
            for (float g : p.grad()) gmax = Math.max(gmax, Math.abs(g));
            for (int i = 0; i < Math.min(3, p.size()); i++) {
                float old = p.data()[i], h = 1e-2f;
                p.data()[i] = old + h;
                double up = trainer.loss(b);
                p.data()[i] = old - h;
                double down = trainer.loss(b);
                p.data()[i] = old;
                assertEquals((up - down) / (2 * h), p.grad()[i], 1e-2 * Math.max(gmax, 1e-4), p.name() + "[" + i + "]");
            }
        }
    }

    @Test
    void refusesAConfigMadeForAnotherModel() {
        var cfg = new PrefixTuningConfig("PREFIX_TUNING", 3, false, null, 4096, 32, 32, 1, "CAUSAL_LM", null, true);
        var e = assertThrows(UserException.class, () -> new PeftModel(base(), 1).install(method(), cfg));
        assertEquals("prefix tuning config: token_dim 4096 does not fit this model (its key/value width is 8)", e.getMessage());
    }

    private static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }
}
