package dev.peft4j.cli;

import static dev.peft4j.cli.CliTest.assertUserError;
import static dev.peft4j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.io.DType;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import dev.peft4j.models.peft.PeftModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --base-dtype}: conversion on load, its errors, and the device step's refusal of a compressed base. */
class BaseDtypeTest {
    private static final LlamaConfig SMALL = LlamaConfig.of(64, 128, 2, 4, 2, 259, 64, false);

    @Test
    void generateRunsOnAConvertedBaseAndReportsGreedyTokens(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("base");
        Checkpoints.save(LlamaWeights.random(SMALL, 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
        Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
        for (String t : new String[]{"keep", "bf16", "q8_0", "q4_0"}) {
            CliTest.Run r = run("generate", "--model", model.toString(), "--base-dtype", t, "--prompt", "ab", "--max-new-tokens", "4",
                    "--temperature", "0", "--json");
            assertEquals(0, r.code(), t + ": " + r.err());
            assertTrue(r.out().contains("\"ids\""), r.out());
        }
    }

    @Test
    void badTypesAndShapesAreUserErrors() {
        assertUserError(run("generate", "--base-dtype", "q2_k", "--max-new-tokens", "1"),
                "--base-dtype: unknown type 'q2_k' (expected keep, f32, bf16, f16, q8_0 or q4_0)");
        // the embedded model's hidden size 344 is not a multiple of Q8_0's blocks of 32
        assertUserError(run("generate", "--base-dtype", "q8_0", "--max-new-tokens", "1"),
                "cannot store model.layers.0.mlp.down_proj.weight [128, 344] as Q8_0: a Q8_0 row holds whole blocks of 32 values");
    }

    @Test
    void theDeviceStepRefusesACompressedBaseByName() {
        String why = DeviceTraining.unsupported(new PeftModel(LlamaWeights.random(SMALL, 1, 0.1f, GgmlType.Q8_0), 0));
        assertNotNull(why);
        assertTrue(why.startsWith("a base stored as [Q8_0] (the device step reads float32 weights only"), why);
        assertEquals(null, DeviceTraining.unsupported(new PeftModel(LlamaWeights.random(SMALL, 1, 0.1f), 0)));
    }
}
