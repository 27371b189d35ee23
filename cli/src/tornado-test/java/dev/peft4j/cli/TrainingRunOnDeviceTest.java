package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.UserException;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.kernels.tornado.TornadoBackend;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.train.Batch;
import dev.peft4j.models.train.BatchSource;
import dev.peft4j.models.train.TrainingRun;
import dev.peft4j.prefix.AdaptionPromptConfig;
import dev.peft4j.prefix.LlamaAdapterMethod;
import dev.peft4j.prefix.PrefixTuningConfig;
import dev.peft4j.prefix.PrefixTuningMethod;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code finetune --device}'s path: a {@link TrainingRun} whose steps run on the TornadoVM step
 * ({@link DeviceTraining#open}) against the same run on the CPU trainer. LoRA on all seven linears + prefix
 * tuning + LLaMA-Adapter (and prefix tuning, LLaMA-Adapter alone) on a small GQA model, 4 optimizer steps of 2 micro-batches with masked prompts,
 * weight decay, warmup and cosine decay, and a clipping limit the gradients cross: every parameter, the per-step losses and gradient norms and the validation loss agree (1e-4 relative); a run
 * stopped at step 2 and resumed from its checkpoint onto a fresh device step ends bit for bit where the
 * uninterrupted device run does. Runs the device form on TornadoVM device {@code -Dpeft4j.tornado.device}
 * (0 by default), and as plain Java.
 *
 * <p>Compiled only in the {@code tornado} profile (TORNADOVM_HOME set).
 */
class TrainingRunOnDeviceTest {
    private static final LlamaConfig C = LlamaConfig.of(32, 48, 3, 4, 2, 41, 16, false);
    private static final int MICRO = 2, SEQ = 7, STEPS = 4;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** 2 micro-batches a step, warmup 1, cosine, decay 0.1, clipping at 0.05 (the norms here are ~0.1-1: every step clips). */
    private static final TrainingRun.Options OPTIONS = new TrainingRun.Options(STEPS, 2, 2e-2, 1e-3, 1, 0.1, 0.9f, 0.95f, 0.05, 0, 0);

    /** Cycles through fixed batches; the position is the index. */
    private static final class Cycle implements BatchSource {
        private final List<Batch> batches;
        private int next;

        Cycle(List<Batch> batches) { this.batches = batches; }
        @Override public Batch next() { return batches.get(next++ % batches.size()); }
        @Override public long[] position() { return new long[]{next}; }
        @Override public void seek(long[] p) { next = (int) p[0]; }
    }

    private static List<Batch> batches(int count, long seed) {
        List<Batch> out = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(seed);
        for (int b = 0; b < count; b++) {
            int n = MICRO * SEQ;
            int[] in = new int[n], tg = new int[n];
            float[] w = new float[n];
            for (int i = 0; i < n; i++) {
                in[i] = r.nextInt(C.vocabSize());
                tg[i] = r.nextInt(C.vocabSize());
                w[i] = i % SEQ < 2 ? 0f : 1f; // a two-token prompt per sequence
            }
            out.add(new Batch(MICRO, SEQ, in, tg, w));
        }
        return out;
    }

    private static PeftModel model() {
        return model("lora+prefix+llama-adapter");
    }

    /** The model with the methods named, joined by +. */
    private static PeftModel model(String methods) {
        LlamaWeights base = LlamaWeights.random(C, 7, 0.2f);
        PeftModel m = new PeftModel(base, 3);
        List<String> names = List.of(methods.split("\\+"));
        if (names.contains("lora")) {
            m.install(new LoraMethod(), LoraConfig.of(4, 8, List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")));
        }
        if (names.contains("lora_lm_head")) m.install(new LoraMethod(), LoraConfig.of(4, 8, List.of("v_proj", "lm_head")).withRslora(true));
        if (names.contains("prefix")) m.install(new PrefixTuningMethod(), PrefixTuningConfig.of(3));
        if (names.contains("prefix_projection")) m.install(new PrefixTuningMethod(), PrefixTuningConfig.projected(3, 12));
        if (names.contains("llama-adapter")) m.install(new LlamaAdapterMethod(), AdaptionPromptConfig.fromLayer(2, 1).perHeadGate()); // the device step has the per-head gate
        return m;
    }

    private static TrainingRun run(PeftModel m, Path out, TrainingRun.Listener listener) {
        return new TrainingRun(m, () -> m.trainer(MICRO, SEQ, false), new Cycle(batches(5, 1)), batches(2, 100), OPTIONS, out, listener);
    }

    /** Σ lr over the run's steps: how far AdamW can move an element (about lr a step). */
    private static double travel() {
        var schedule = OPTIONS.schedule();
        double sum = 0;
        for (int t = 0; t < STEPS; t++) sum += schedule.at(t);
        return sum;
    }

    private static TornadoDevice device() {
        return new TornadoDevice(TornadoBackend.deviceIndexFromProperty());
    }

    /**
     * Each method alone too (the step then has no LoRA, or only one kind of trainable buffer), LoRA with rsLoRA
     * scaling on v_proj and lm_head, and prefix tuning through its MLP (with a LLaMA-Adapter).
     */
    @ParameterizedTest
    @ValueSource(strings = {"lora+prefix+llama-adapter", "prefix", "llama-adapter", "lora_lm_head", "prefix_projection+llama-adapter"})
    void aRunOnTheDeviceMatchesTheCpuRun(String methods, @TempDir Path dir) throws Exception {
        PeftModel cpu = model(methods);
        TrainingRun.EvalInfo expected = run(cpu, dir.resolve("cpu"), null).run();
        for (TornadoDevice d : List.of(TornadoDevice.JAVA_FORM, device())) {
            PeftModel dev = model(methods);
            Path out = dir.resolve("device" + d.index());
            TrainingRun r = run(dev, out, null);
            TrainingRun.EvalInfo got;
            try (DeviceStep step = DeviceTraining.open(d, dev, MICRO, SEQ)) {
                System.out.println("device: " + step.device());
                r.onDevice(step);
                got = r.run();
            }
            assertFalse(r.hasCpuTrainer(), "a run on the device allocates no CPU trainer");
            System.out.printf(Locale.ROOT, "val loss  device %.7f  cpu %.7f%n", got.loss(), expected.loss());
            assertEquals(expected.loss(), got.loss(), 1e-4 * expected.loss(), "validation loss");
            List<JsonNode> a = metrics(dir.resolve("cpu")), b = metrics(out);
            assertEquals(a.size(), b.size());
            for (int i = 0; i < a.size(); i++) {
                for (String key : new String[]{"loss", "grad_norm"}) {
                    if (!a.get(i).has(key)) continue;
                    double x = a.get(i).get(key).asDouble(), y = b.get(i).get(key).asDouble();
                    assertEquals(x, y, 1e-4 * Math.abs(x), "step " + a.get(i).get("step") + " " + key);
                }
                if (a.get(i).has("grad_norm")) assertTrue(a.get(i).get("grad_norm").asDouble() > 0.05, "the test must clip: " + a.get(i));
            }
            compare(cpu, dev, travel());
        }
    }

    @Test
    void aResumedDeviceRunEndsWhereTheUninterruptedOneDoes(@TempDir Path dir) throws Exception {
        PeftModel straight = model();
        TrainingRun a = run(straight, dir.resolve("a"), null);
        try (DeviceStep step = DeviceTraining.open(device(), straight, MICRO, SEQ)) {
            a.onDevice(step);
            a.run();
        }
        TrainingRun[] holder = new TrainingRun[1];
        PeftModel part = model();
        holder[0] = run(part, dir.resolve("b"), new TrainingRun.Listener() {
            @Override public void step(TrainingRun.StepInfo info) {
                if (info.step() == 2) holder[0].requestStop();
            }
        });
        try (DeviceStep step = DeviceTraining.open(device(), part, MICRO, SEQ)) {
            holder[0].onDevice(step);
            holder[0].run();
        }
        assertEquals(2, holder[0].step());
        PeftModel resumed = model();
        TrainingRun b = run(resumed, dir.resolve("b"), null);
        b.resume(TrainingRun.findCheckpoint(dir.resolve("b")));
        try (DeviceStep step = DeviceTraining.open(device(), resumed, MICRO, SEQ)) {
            b.onDevice(step);
            b.run();
        }
        List<Parameter> x = straight.trainableParameters(), y = resumed.trainableParameters();
        for (int i = 0; i < x.size(); i++) assertArrayEquals(x.get(i).data(), y.get(i).data(), x.get(i).name());
    }

    @Test
    void compositionsWithoutADeviceFormAreRefusedByName() {
        PeftModel dropout = new PeftModel(LlamaWeights.random(C, 7, 0.2f), 3);
        dropout.install(new LoraMethod(), LoraConfig.of(4, 8, List.of("q_proj")).withDropout(0.1));
        UserException e = assertThrows(UserException.class, () -> DeviceTraining.open(TornadoDevice.JAVA_FORM, dropout, MICRO, SEQ));
        assertEquals("--device: LoRA with lora_dropout 0.1 (the device step has no dropout; use 0) has no device form; use --device cpu", e.getMessage());

        PeftModel someLayers = new PeftModel(LlamaWeights.random(C, 7, 0.2f), 3);
        someLayers.install(new LoraMethod(), LoraConfig.of(4, 8, List.of("q_proj")).withLayers(List.of(1)));
        e = assertThrows(UserException.class, () -> DeviceTraining.open(TornadoDevice.JAVA_FORM, someLayers, MICRO, SEQ),
                "refused before anything is packed or uploaded");
        assertEquals("--device: method 'lora' (a low-rank linear update on q_proj of layers [1] only (the device step adapts a linear in all "
                + C.nLayers() + " layers or none)) has no device form; use --device cpu", e.getMessage());
    }

    private static List<JsonNode> metrics(Path out) throws Exception {
        List<JsonNode> rows = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) rows.add(JSON.readTree(line));
        return rows;
    }

    /**
     * Every trainable parameter against the CPU run's. Both start equal, so they differ only by their updates, and
     * AdamW moves an element by about lr a step whatever its gradient's size: the measure is Σ lr over the steps
     * (AdamW's travel). AdamW divides each element's gradient by its own running RMS, so an element whose gradient
     * is mostly cancellation (far below the tensor's largest) can take a visibly different step from float
     * rounding that is 1e-6 of the tensor's gradients (the gradients are compared at that level by the
     * *MatchesTrainerTest tests; the losses and norms above). So: on average within 1e-4 of the travel, and no
     * element more than 1% of it apart.
     */
    private static void compare(PeftModel cpu, PeftModel dev, double travel) {
        List<Parameter> x = cpu.trainableParameters(), y = dev.trainableParameters();
        assertEquals(x.size(), y.size());
        double worstMean = 0, worstMax = 0;
        for (int i = 0; i < x.size(); i++) {
            float[] a = x.get(i).data(), b = y.get(i).data();
            double diff = 0, sum = 0, max = 0;
            for (int j = 0; j < a.length; j++) {
                double d = Math.abs((double) a[j] - b[j]);
                diff = Math.max(diff, d);
                sum += d;
                max = Math.max(max, Math.abs(a[j]));
            }
            double mean = sum / a.length;
            worstMean = Math.max(worstMean, mean / travel);
            worstMax = Math.max(worstMax, diff / travel);
            assertTrue(max > 0, x.get(i).name());
            assertTrue(mean <= 1e-4 * travel, x.get(i).name() + ": mean diff " + mean + " > 1e-4 of AdamW's travel " + travel);
            assertTrue(diff <= 0.01 * travel, x.get(i).name() + ": max diff " + diff + " > 1% of AdamW's travel " + travel);
        }
        System.out.printf(Locale.ROOT, "%d tensors: worst mean diff %.2e, worst max diff %.2e of AdamW's travel%n",
                x.size(), worstMean, worstMax);
    }
}
