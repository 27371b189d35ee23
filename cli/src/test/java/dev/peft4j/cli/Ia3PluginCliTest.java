package dev.peft4j.cli;

import static dev.peft4j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.io.DType;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.lora.LoraConfig;
import dev.peft4j.lora.LoraMethod;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.PeftMethods;
import dev.peft4j.models.peft.PeftModel;
import dev.peft4j.models.testplugin.Ia3Plugin;
import dev.peft4j.prefix.AdaptionPromptConfig;
import dev.peft4j.prefix.LlamaAdapterMethod;
import dev.peft4j.prefix.PrefixTuningConfig;
import dev.peft4j.prefix.PrefixTuningMethod;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * IA³ from a plugin jar the tests build (no IA³ code in kernels, models or cli): listed and trained by the CLI with
 * {@code --plugins DIR}; and what the device step does with it and with every other composition, decided from the
 * forms adapters declare ({@link dev.peft4j.api.DeviceForm}): refused naming the method and the reason, and
 * {@code --device auto} falls back to the CPU saying why. CPU only: these checks run before TornadoVM is looked for.
 */
class Ia3PluginCliTest {
    private static final LlamaConfig SMALL = LlamaConfig.of(16, 24, 2, 4, 2, 20, 12, false);
    private static final String IA3_WHY = "method 'ia3' (its hooks run on the CPU only: it declares none of the device step's forms, "
            + "a low-rank linear update, key/value prefix rows or a gated prompt attention)";

    @SuppressWarnings("unchecked")
    private static PeftMethod<PeftConfig> ia3(PeftMethods methods) {
        return (PeftMethod<PeftConfig>) methods.get("ia3");
    }

    private static <C extends PeftConfig> void installDefault(PeftModel m, PeftMethod<C> method) {
        m.install(method, method.defaultConfig());
    }

    @Test
    void pluginsListsIa3FromItsJar() {
        CliTest.Run r = run("plugins", "--plugins", Ia3Plugin.dir().toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("ia3") && r.out().contains("peft4j-ia3.jar"), r.out());
        assertTrue(r.out().contains("finetune flags: --ia3-targets --ia3-feedforward") && r.out().contains("finetune flags: --lora-r"), r.out());
        assertTrue(run("plugins").out().contains("lora") && !run("plugins").out().contains("ia3"), "not on the class path");
    }

    @Test
    void finetuneHelpListsEachMethodsOwnFlags() {
        CliTest.Run plain = run("finetune", "--help");
        assertEquals(0, plain.code(), plain.err());
        assertTrue(plain.out().contains("--lora-r=R") && plain.out().contains("--adapter-gate=layer|head") && !plain.out().contains("--ia3-targets"),
                plain.out());
        CliTest.Run with = run("finetune", "--help", "--plugins", Ia3Plugin.dir().toString());
        assertTrue(with.out().contains("--ia3-targets=NAMES") && with.out().contains("IA3: modules to scale"), with.out());
        CliTest.Run without = run("finetune", "--ia3-targets", "k_proj");
        assertEquals(2, without.code());
        assertTrue(without.err().contains("Unknown options: '--ia3-targets'"), "without --plugins the flag is unknown: " + without.err());
    }

    @Test
    void finetuneTrainsIa3FromThePluginJarAndAutoSaysWhyItRunsOnTheCpu(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("base");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(16, 32, 2, 2, 1, 259, 256, false), 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < 6; i++) json.append(String.format("{\"instruction\":\"Say %d.\",\"input\":\"\",\"output\":\"%d\"},", i, i));
        Path data = dir.resolve("data.json");
        Files.writeString(data, json.substring(0, json.length() - 1) + "]");
        Path out = dir.resolve("out");
        CliTest.Run r = run("finetune", "--model", model.toString(), "--data", data.toString(), "--val-size", "2", "--method", "ia3",
                "--plugins", Ia3Plugin.dir().toString(), "--ia3-targets", "v_proj,up_proj", "--ia3-feedforward", "up_proj",
                "--steps", "3", "--lr", "0.05", "--micro-batch-size", "2", "--batch-size", "2", "--device", "auto", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("device: auto -> cpu (" + IA3_WHY + " has no device form)"), r.out());
        Path weights = out.resolve("adapter/adapter_model.safetensors");
        assertTrue(Files.exists(weights), r.out());
        JsonNode cfg = new ObjectMapper().readTree(Files.readString(out.resolve("adapter/adapter_config.json")));
        assertEquals("IA3", cfg.get("peft_type").asText());
        assertEquals("ia3", cfg.get("peft4j_method").asText());
        try (Safetensors st = Safetensors.open(weights)) {
            // the plugin's own flags: v_proj's output [kvDim][1] and up_proj's input [1][dim] in both layers
            assertEquals(4, st.names().size(), st.names().toString());
            assertArrayEquals(new long[]{1, 16}, st.shape("base_model.model.model.layers.1.mlp.up_proj.ia3_l"));
            assertArrayEquals(new long[]{8, 1}, st.shape("base_model.model.model.layers.0.self_attn.v_proj.ia3_l"));
            float[] l = st.readFloats("base_model.model.model.layers.0.self_attn.v_proj.ia3_l");
            double moved = 0;
            for (float x : l) moved = Math.max(moved, Math.abs(x - 1));
            assertTrue(moved > 1e-3, "training moved the scales from their init of 1: " + moved);
        }
        // --device tornado still needs TornadoVM first (there is none in this build); cpu never looks
        CliTest.Run cpu = run("finetune", "--model", model.toString(), "--data", data.toString(), "--val-size", "2", "--method", "ia3",
                "--plugins", Ia3Plugin.dir().toString(), "--steps", "1", "--micro-batch-size", "2", "--batch-size", "2",
                "--device", "cpu", "--out", dir.resolve("cpu").toString());
        assertEquals(0, cpu.code(), cpu.err());
        assertTrue(!cpu.out().contains("device: auto"), cpu.out());
    }

    @Test
    void theDeviceStepRefusesByNameFromTheDeclaredForms() {
        PeftMethods methods = PeftMethods.discover(Ia3Plugin.dir());
        LlamaWeights w = LlamaWeights.random(SMALL, 1, 0.1f);

        // lora + prefix (through its MLP) + a per-head LLaMA-Adapter: every adapter has a form the step runs
        PeftModel supported = new PeftModel(w, 1);
        supported.install(new LoraMethod(), LoraConfig.of(2, 4, List.of("q_proj", "down_proj")));
        supported.install(new PrefixTuningMethod(), PrefixTuningConfig.of(3));
        supported.install(new LlamaAdapterMethod(), AdaptionPromptConfig.fromLayer(2, 1).perHeadGate());
        assertNull(DeviceTraining.unsupported(supported));

        // IA³ with it: refused naming the method, whichever adapter comes first; inactive, it is not asked
        PeftModel withIa3 = new PeftModel(w, 1);
        withIa3.install(new LoraMethod(), LoraConfig.of(2, 4, List.of("q_proj")));
        withIa3.install(ia3(methods), ia3(methods).defaultConfig());
        assertEquals(IA3_WHY, DeviceTraining.unsupported(withIa3));
        withIa3.setActive("ia3", false);
        assertNull(DeviceTraining.unsupported(withIa3));

        PeftModel full = new PeftModel(w, 1);
        installDefault(full, methods.get("full"));
        assertTrue(DeviceTraining.unsupported(full).startsWith("method 'full' (its hooks run on the CPU only"), DeviceTraining.unsupported(full));

        PeftModel dropout = new PeftModel(w, 1);
        dropout.install(new LoraMethod(), LoraConfig.of(2, 4, List.of("q_proj")).withDropout(0.1));
        assertEquals("LoRA with lora_dropout 0.1 (the device step has no dropout; use 0)", DeviceTraining.unsupported(dropout));
        dev.peft4j.api.UserException e = assertThrows(dev.peft4j.api.UserException.class,
                () -> DeviceTraining.open(TornadoDevice.JAVA_FORM, dropout, 1, 4), "refused before anything is packed or uploaded");
        assertEquals("--device: LoRA with lora_dropout 0.1 (the device step has no dropout; use 0) has no device form; use --device cpu", e.getMessage());

        PeftModel two = new PeftModel(w, 1);
        two.install("a", new LoraMethod(), LoraConfig.of(2, 4, List.of("q_proj")));
        two.install("b", new LoraMethod(), LoraConfig.of(2, 4, List.of("v_proj")));
        assertEquals("several adapters of one form at once (a, b: the device step trains one of each form)", DeviceTraining.unsupported(two));

        // LoRA on some layers only: refused up front (the step packs a linear's update for every layer), also by auto
        PeftModel someLayers = new PeftModel(w, 1);
        someLayers.install(new LoraMethod(), LoraConfig.of(2, 4, List.of("q_proj", "v_proj")).withLayers(List.of(0)));
        String why = "method 'lora' (a low-rank linear update on q_proj of layers [0] only (the device step adapts a linear in all "
                + SMALL.nLayers() + " layers or none))";
        assertEquals(why, DeviceTraining.unsupported(someLayers));
        e = assertThrows(dev.peft4j.api.UserException.class, () -> DeviceTraining.open(TornadoDevice.JAVA_FORM, someLayers, 1, 4));
        assertEquals("--device: " + why + " has no device form; use --device cpu", e.getMessage());
        StringWriter said = new StringWriter();
        assertTrue(DeviceTraining.choose("auto", someLayers, new java.io.PrintWriter(said, true)).isEmpty());
        assertEquals("device: auto -> cpu (" + why + " has no device form)" + System.lineSeparator(), said.toString());
        PeftModel everyLayer = new PeftModel(w, 1);
        everyLayer.install(new LoraMethod(), LoraConfig.of(2, 4, List.of("q_proj", "lm_head")).withLayers(
                java.util.stream.IntStream.range(0, SMALL.nLayers()).boxed().toList()));
        assertNull(DeviceTraining.unsupported(everyLayer));
    }

    @Test
    void autoFallsBackToTheCpuSayingWhyForEveryRefusedComposition() {
        PeftMethods methods = PeftMethods.discover(Ia3Plugin.dir());
        LlamaWeights w = LlamaWeights.random(SMALL, 1, 0.1f);
        PeftModel m = new PeftModel(w, 1);
        m.install(ia3(methods), ia3(methods).defaultConfig());
        StringWriter text = new StringWriter();
        assertTrue(DeviceTraining.choose("auto", m, new PrintWriter(text, true)).isEmpty());
        assertEquals("device: auto -> cpu (" + IA3_WHY + " has no device form)", text.toString().strip());

        PeftModel perLayer = new PeftModel(w, 1);
        perLayer.install(new LlamaAdapterMethod(), AdaptionPromptConfig.fromLayer(2, 1));
        text = new StringWriter();
        assertTrue(DeviceTraining.choose("auto", perLayer, new PrintWriter(text, true)).isEmpty());
        assertEquals("device: auto -> cpu (LLaMA-Adapter with one gate per layer (the device step has the per-head gate only: "
                + "--adapter-gate head) has no device form)", text.toString().strip());
        assertTrue(DeviceTraining.choose("cpu", m, new PrintWriter(new StringWriter())).isEmpty(), "cpu asks nothing");
    }
}
