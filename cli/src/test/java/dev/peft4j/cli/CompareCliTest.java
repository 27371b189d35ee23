package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CompareCliTest {
    @Test
    void comparesMethodsSideBySideEachInItsOwnProcess(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("base");
        Checkpoints.save(LlamaWeights.random(LlamaConfig.of(32, 64, 2, 4, 2, 259, 256, false), 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < 10; i++) json.append(String.format("{\"instruction\":\"Say %d.\",\"input\":\"now\",\"output\":\"%d\"},", i, i));
        Path data = dir.resolve("data.json");
        Files.writeString(data, json.substring(0, json.length() - 1) + "]");
        CliTest.Run r = CliTest.run("compare", "--model", model.toString(), "--data", data.toString(), "--methods", "lora,prefix+llama-adapter,full",
                "--steps", "2", "--micro-batch-size", "2", "--batch-size", "2", "--val-size", "2", "--samples", "1", "--out", dir.resolve("cmp").toString(), "--device", "auto", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode methods = r.json().get("methods");
        assertEquals(3, methods.size());
        JsonNode lora = methods.get(0), combo = methods.get(1), full = methods.get(2);
        assertEquals("lora", lora.get("method").asText());
        // rank 16 on all seven linears of 2 layers: r * (in + out) each
        long perLayer = 16L * ((32 + 32) + (32 + 16) + (32 + 16) + (32 + 32) + (32 + 64) + (32 + 64) + (64 + 32));
        assertEquals(2 * perLayer, lora.get("trainable_params").asLong());
        assertTrue(lora.get("adapter_bytes").asLong() > lora.get("trainable_params").asLong() * 4, "the adapter file holds the float32 weights");
        assertEquals(-1, full.get("adapter_bytes").asLong());
        assertTrue(full.get("trainable_params").asLong() > combo.get("trainable_params").asLong());
        // --device auto: the CPU without the TornadoVM runtime; full fine-tuning has no device form anywhere
        boolean runtime = TornadoDevice.unavailableReason() == null;
        for (JsonNode m : methods) {
            assertEquals(!runtime || m == full, m.get("device").asText().equals("cpu"), m.toString());
            assertTrue(m.get("peak_rss_bytes").asLong() > 0 && m.get("step_s").asDouble() > 0 && m.get("val_loss").asDouble() > 0, m.toString());
            assertEquals(1, m.get("samples").size());
            assertTrue(m.get("samples").get(0).asText().startsWith("Say "), m.toString());
        }
    }
}
