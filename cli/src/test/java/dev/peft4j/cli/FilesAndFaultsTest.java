package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.io.DType;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.io.CheckpointFormat;
import dev.peft4j.models.io.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files a run writes: equal runs give byte-identical adapters and checkpoints; a full disk (a real, small
 * tmpfs where the test may mount one: root on Linux) ends the run with one line naming the file, keeps the
 * previous checkpoint whole and exits non-zero. The same failure, simulated, is tested in AtomicFilesTest.
 */
class FilesAndFaultsTest {
    private static String[] finetune(Path dir, Path out, String steps) throws IOException {
        Path model = dir.resolve("base");
        if (!Files.exists(model)) {
            Checkpoints.save(LlamaWeights.random(LlamaConfig.of(64, 96, 2, 4, 2, 259, 256, false), 3, 0.1f), model, CheckpointFormat.HF, DType.F32, 0);
            Files.writeString(model.resolve(ModelOptions.BYTE_MARKER), "");
            StringBuilder json = new StringBuilder("[");
            for (int i = 0; i < 12; i++) json.append(String.format("{\"instruction\":\"Say %d.\",\"input\":\"\",\"output\":\"%d\"},", i, i));
            Files.writeString(dir.resolve("data.json"), json.substring(0, json.length() - 1) + "]");
        }
        return new String[]{"finetune", "--model", model.toString(), "--data", dir.resolve("data.json").toString(), "--val-size", "2",
                "--method", "lora+llama-adapter", "--lora-r", "16", "--lora-targets", "all-linear", "--adapter-start-layer", "0",
                "--micro-batch-size", "2", "--batch-size", "2", "--steps", steps, "--save-every", "1", "--eval-every", "0", "--lr", "1e-2",
                "--out", out.toString()};
    }

    private static List<Path> files(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).map(root::relativize).filter(p -> !p.toString().equals("metrics.jsonl")).sorted().toList();
        }
    }

    @Test
    void equalRunsWriteByteIdenticalFiles(@TempDir Path dir) throws Exception {
        for (String run : List.of("a", "b")) {
            CliTest.Run r = CliTest.run(finetune(dir, dir.resolve(run), "2"));
            assertEquals(0, r.code(), r.err());
        }
        List<Path> a = files(dir.resolve("a")), b = files(dir.resolve("b"));
        assertEquals(a, b);
        assertTrue(a.contains(Path.of("adapter/lora/adapter_model.safetensors")) && a.contains(Path.of("checkpoint/optimizer.safetensors")), a.toString());
        for (Path f : a) {
            assertArrayEquals(Files.readAllBytes(dir.resolve("a").resolve(f)), Files.readAllBytes(dir.resolve("b").resolve(f)), f + " differs between equal runs");
        }
        System.out.printf("equal runs: %d files, byte-identical: %s%n", a.size(), a);
    }

    @Test
    void aFullDiskEndsWithOneLineAndKeepsThePreviousCheckpoint(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(System.getProperty("os.name").equals("Linux") && "root".equals(System.getProperty("user.name")),
                "mounting a small tmpfs needs root on Linux");
        // how big one checkpoint is, on the ordinary disk
        Path probe = dir.resolve("probe");
        assertEquals(0, CliTest.run(finetune(dir, probe, "1")).code());
        long pages = 0;
        for (Path f : files(probe.resolve("checkpoint"))) pages += (Files.size(probe.resolve("checkpoint").resolve(f)) + 4095) / 4096;
        long checkpointKb = pages * 4;
        Path disk = Files.createDirectories(dir.resolve("disk"));
        // room for one checkpoint and half of the next: the second save must fail while the first is on disk
        long sizeKb = checkpointKb * 3 / 2 + 16;
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + sizeKb + "k", "tmpfs", disk.toString())
                .redirectErrorStream(true).start();
        String mountOut = new String(mount.getInputStream().readAllBytes());
        Assumptions.assumeTrue(mount.waitFor() == 0, "cannot mount a tmpfs here: " + mountOut.strip());
        try {
            Path out = disk.resolve("run");
            CliTest.Run r = CliTest.run(finetune(dir, out, "3"));
            System.out.printf("tmpfs %d KB, one checkpoint %d KB: exit %d, stderr: %s%n", sizeKb, checkpointKb, r.code(), r.err().strip());
            assertEquals(1, r.code(), r.err());
            List<String> lines = r.err().strip().lines().toList();
            assertEquals(1, lines.size(), "one line, no stack trace: " + r.err());
            assertTrue(lines.get(0).matches("peft4j: error: " + java.util.regex.Pattern.quote(out.resolve("checkpoint.tmp").toString())
                    + "/\\S+: no space left on device"), lines.get(0));
            assertFalse(Files.exists(out.resolve("checkpoint.tmp")), "the partial checkpoint is removed");
            String state = Files.readString(out.resolve("checkpoint/state.json"));
            assertTrue(state.contains("\"step\" : 1"), state);
            List<String> names = new ArrayList<>();
            try (Safetensors st = Safetensors.open(out.resolve("checkpoint/params.safetensors"))) {
                names.addAll(st.names());
                for (String n : st.names()) st.readFloats(n);
            }
            try (Safetensors st = Safetensors.open(probe.resolve("checkpoint/params.safetensors"))) {
                assertEquals(List.copyOf(st.names()), names, "the previous checkpoint is whole");
            }
        } finally {
            new ProcessBuilder("umount", disk.toString()).inheritIO().start().waitFor();
        }
    }
}
