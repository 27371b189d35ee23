package dev.peft4j.models.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.train.AdamWOptimizer;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.LlamaTrainer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One training step and five AdamW steps (clipping at norm 1, weight decay 0.1 on every tensor)
 * against the float64 PyTorch reference of {@code models/src/test/golden/make_golden.py}: the loss,
 * the logits, the gradient of every parameter, the five losses and gradient norms, and six tensors
 * after the last step, each within 1e-4 relative (max |diff| / max |expected|).
 */
class GoldenTrainingTest {
    private static final double RTOL = 1e-4;

    private static Path golden(String relative) {
        return Golden.resource(GoldenTrainingTest.class, relative);
    }

    private static int[] ids(float[] f) {
        return Golden.ids(f);
    }

    private static void check(String what, float[] got, float[] want) {
        Golden.check(what, got, want, RTOL);
    }

    @ParameterizedTest
    @ValueSource(strings = {"b1_train_gqa", "b2_train_tied"})
    void gradientsAndFiveAdamWStepsMatchPyTorch(String name) {
        LlamaWeights w = Checkpoints.load(golden(name + "/hf"));
        try (Safetensors exp = Safetensors.open(golden(name + "/expected.safetensors"))) {
            long[] shape = exp.shape("inputs");
            int B = (int) shape[0], T = (int) shape[1];
            Batch batch = new Batch(B, T, ids(exp.readFloats("inputs")), ids(exp.readFloats("targets")), exp.readFloats("mask"));
            System.out.printf("golden training %s (%d x %d):%n", name, B, T);

            LlamaTrainer trainer = new LlamaTrainer(w, B, T, LlamaTrainer.ALL, false);
            double loss = trainer.forwardBackward(batch);
            check("loss", new float[]{(float) loss}, exp.readFloats("loss"));
            check("logits", logits(w, batch), exp.readFloats("logits"));
            List<Parameter> params = trainer.parameters();
            assertEquals(w.tensors().size(), params.size());
            for (Parameter p : params) check("grad." + p.name(), p.grad(), exp.readFloats("grad." + p.name()));

            AdamWOptimizer opt = new AdamWOptimizer(params, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0);
            float[] losses = new float[5], norms = new float[5];
            for (Parameter p : params) p.zeroGrad();
            for (int step = 0; step < 5; step++) {
                losses[step] = (float) trainer.forwardBackward(batch);
                norms[step] = (float) opt.step(1e-2, 1);
            }
            check("losses before each of 5 steps", losses, exp.readFloats("losses"));
            check("gradient norms before clipping", norms, exp.readFloats("grad_norms"));
            check("final loss", new float[]{(float) trainer.loss(batch)}, exp.readFloats("final_loss"));
            for (String t : exp.names()) {
                if (!t.startsWith("final.")) continue;
                String tensor = t.substring("final.".length());
                Parameter p = params.stream().filter(q -> q.name().equals(tensor)).findFirst().orElseThrow();
                check(t, p.data(), exp.readFloats(t));
            }
        }
    }

    /** Logits [B][T][vocab] of every sequence of the batch, from the inference model. */
    private static float[] logits(LlamaWeights w, Batch b) {
        var model = new dev.peft4j.models.LlamaModel(w);
        int V = w.config.vocabSize(), T = b.seqLen();
        float[] out = new float[b.batchSize() * T * V];
        for (int s = 0; s < b.batchSize(); s++) {
            float[][] l = model.forwardAll(java.util.Arrays.copyOfRange(b.inputs(), s * T, (s + 1) * T));
            for (int t = 0; t < T; t++) System.arraycopy(l[t], 0, out, (s * T + t) * V, V);
        }
        return out;
    }
}
