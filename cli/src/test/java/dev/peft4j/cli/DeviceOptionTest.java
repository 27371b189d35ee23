package dev.peft4j.cli;

import static dev.peft4j.cli.CliTest.assertUserError;
import static dev.peft4j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench train --device} and {@code finetune --device} in the default build, which has no TornadoVM
 * backend: tornado fails with the reason, auto falls back to the CPU and says so, a bad value is a user error.
 * Skipped where the TornadoVM runtime is there (the {@code tornado} profile's tests run with its flags; its own
 * tests cover the device).
 */
class DeviceOptionTest {
    @BeforeEach
    void withoutTheRuntime() {
        String reason = TornadoDevice.unavailableReason();
        Assumptions.assumeTrue(reason != null, "the TornadoVM runtime is available here: these tests are for builds without it");
    }

    @Test
    void tornadoWithoutTheBackendIsAUserError() {
        CliTest.Run r = run("bench", "train", "--method", "lora", "--device", "tornado", "--batch", "1", "--seq", "8", "--steps", "1");
        assertUserError(r, "TornadoVM is not available: ");
        assertUserError(run("bench", "train", "--device", "tornado:1", "--steps", "1"), "TornadoVM is not available: ");
    }

    @Test
    void autoRunsOnTheCpuAndSaysSo() {
        CliTest.Run r = run("bench", "train", "--method", "lora", "--device", "auto", "--batch", "1", "--seq", "8", "--steps", "1",
                "--warmup", "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("device: auto -> cpu (TornadoVM is not available: "), r.out());
        assertTrue(r.out().contains("median: "), r.out());
    }

    @Test
    void theDeviceStepRefusesWhatItHasNoFormOfByName() {
        var w = dev.peft4j.models.LlamaWeights.random(dev.peft4j.models.LlamaConfig.of(16, 24, 2, 4, 2, 20, 12, false), 1, 0.1f);
        var perLayer = new dev.peft4j.models.peft.PeftModel(w, 1);
        perLayer.install(new dev.peft4j.prefix.LlamaAdapterMethod(), dev.peft4j.prefix.AdaptionPromptConfig.fromLayer(2, 1));
        org.junit.jupiter.api.Assertions.assertEquals(
                "LLaMA-Adapter with one gate per layer (the device step has the per-head gate only: --adapter-gate head)", DeviceTraining.unsupported(perLayer));
        var perHead = new dev.peft4j.models.peft.PeftModel(w, 1);
        perHead.install(new dev.peft4j.prefix.LlamaAdapterMethod(), dev.peft4j.prefix.AdaptionPromptConfig.fromLayer(2, 1).perHeadGate());
        org.junit.jupiter.api.Assertions.assertNull(DeviceTraining.unsupported(perHead));
        var dora = new dev.peft4j.models.peft.PeftModel(w, 1);
        dora.install(new dev.peft4j.lora.LoraMethod(), dev.peft4j.lora.LoraConfig.of(2, 4, java.util.List.of("q_proj")).withDora(true));
        org.junit.jupiter.api.Assertions.assertEquals("LoRA as DoRA (use_dora; the device step has plain LoRA)", DeviceTraining.unsupported(dora));
    }

    @Test
    void unknownDeviceIsAUserError() {
        assertUserError(run("bench", "train", "--device", "gpu"), "--device: unknown device 'gpu' (expected auto, cpu, tornado or tornado:N)");
    }

    @Test
    void finetuneOnTornadoWithoutTheBackendFailsBeforeTrainingAndAutoTrainsOnTheCpu(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("base");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(16, 32, 2, 2, 1, 259, 256, false), 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < 6; i++) json.append(String.format("{\"instruction\":\"Say %d.\",\"input\":\"\",\"output\":\"%d\"},", i, i));
        Path data = dir.resolve("data.json");
        Files.writeString(data, json.substring(0, json.length() - 1) + "]");
        String[] args = {"finetune", "--model", model.toString(), "--data", data.toString(), "--val-size", "2", "--method", "lora+prefix",
                "--steps", "2", "--micro-batch-size", "2", "--batch-size", "2", "--device", "tornado", "--out", dir.resolve("a").toString()};
        assertUserError(run(args), "TornadoVM is not available: ");
        assertTrue(!Files.exists(dir.resolve("a/checkpoint")), "nothing trained");

        args[args.length - 3] = "auto";
        args[args.length - 1] = dir.resolve("b").toString();
        CliTest.Run r = run(args);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("device: auto -> cpu (TornadoVM is not available: "), r.out());
        assertTrue(Files.exists(dir.resolve("b/adapter/lora/adapter_model.safetensors")), r.out());
    }
}
