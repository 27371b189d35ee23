package dev.peft4j.models.io;

import dev.peft4j.api.UserException;
import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.peft4j.models.io.Llama2cCheckpointTest.TIED;
import static dev.peft4j.models.io.Llama2cCheckpointTest.UNTIED_GQA;
import static dev.peft4j.models.io.Llama2cCheckpointTest.assertMessage;
import static dev.peft4j.models.io.Llama2cCheckpointTest.assertSameWeights;
import static org.junit.jupiter.api.Assertions.*;

class CheckpointsTest {
    @TempDir
    Path dir;

    @Test
    void detectsAndLoadsBothFormats() throws IOException {
        LlamaWeights w = LlamaWeights.random(UNTIED_GQA, 3, 1f);
        Path bin = dir.resolve("model.bin"), hf = dir.resolve("hf");
        Checkpoints.save(w, bin, CheckpointFormat.LLAMA2C, DType.F32, 0);
        Checkpoints.save(w, hf, CheckpointFormat.HF, DType.F32, 1000);

        assertEquals(CheckpointFormat.LLAMA2C, Checkpoints.detect(bin));
        for (Path p : new Path[]{hf, hf.resolve("config.json"), hf.resolve(HfCheckpoint.INDEX)}) {
            assertEquals(CheckpointFormat.HF, Checkpoints.detect(p));
            assertSameWeights(w, Checkpoints.load(p));
            assertEquals(w.config, Checkpoints.readConfig(p));
        }
        assertSameWeights(w, Checkpoints.load(bin));
        assertEquals(w.config, Checkpoints.readConfig(bin));
        assertEquals(w.config.withMaxSeqLen(3), Checkpoints.load(bin, 3).config);
        assertEquals(w.config.withMaxSeqLen(3), Checkpoints.load(hf, 3).config);
    }

    @Test
    void explainsWhatWasExpected() throws IOException {
        Path text = dir.resolve("notes.txt");
        Files.writeString(text, "this is not a checkpoint, just some words here");
        assertMessage(assertThrows(UserException.class, () -> Checkpoints.load(text)), text.toString(), "unrecognised checkpoint",
                "config.json", "llama2.c .bin");
        Path gguf = dir.resolve("m.gguf");
        Files.writeString(gguf, "GGUF\3\0\0\0 and more bytes to fill the header");
        assertMessage(assertThrows(UserException.class, () -> Checkpoints.load(gguf)), gguf.toString(), "GGUF");
        Path missing = dir.resolve("nope.bin");
        assertMessage(assertThrows(UserException.class, () -> Checkpoints.load(missing)), missing.toString(), "not found");
        Path empty = dir.resolve("emptydir");
        Files.createDirectories(empty);
        assertMessage(assertThrows(UserException.class, () -> Checkpoints.load(empty)), "config.json", "not found");
        Path bin = dir.resolve("t.bin");
        assertMessage(assertThrows(UserException.class, () -> Checkpoints.save(LlamaWeights.random(TIED, 1, 1f), bin, CheckpointFormat.LLAMA2C,
                DType.BF16, 0)), bin.toString(), "float32 only");
    }
}
