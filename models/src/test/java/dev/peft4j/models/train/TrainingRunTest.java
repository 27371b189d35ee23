package dev.peft4j.models.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.FullFineTuning;
import dev.peft4j.models.peft.PeftModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingRunTest {
    private static final LlamaConfig C = LlamaConfig.of(16, 24, 2, 4, 2, 20, 8, false);

    /** Cycles through fixed batches; the position is the index. */
    static final class Cycle implements BatchSource {
        final List<Batch> batches;
        int next;
        int failAt = -1;

        Cycle(List<Batch> batches) { this.batches = batches; }
        @Override public Batch next() { return batches.get(next++ % batches.size()); }
        @Override public long[] position() {
            if (next == failAt) throw new IllegalStateException("simulated failure while saving");
            return new long[]{next};
        }
        @Override public void seek(long[] p) { next = (int) p[0]; }
    }

    private static List<Batch> batches(int count, long seed) {
        List<Batch> out = new ArrayList<>();
        for (int i = 0; i < count; i++) out.add(LlamaTrainerTest.randomBatch(C, 2, 6, seed + i, true));
        return out;
    }

    private static TrainingRun run(PeftModel m, Cycle source, Path out, int steps, int saveEvery) {
        var opts = new TrainingRun.Options(steps, 2, 1e-2, 1e-3, 2, 0.1, 0.9f, 0.95f, 1.0, 2, saveEvery);
        return new TrainingRun(m, m.trainer(2, 6, false), source, batches(2, 100), opts, out, null);
    }

    private static PeftModel fullModel() {
        PeftModel m = new PeftModel(LlamaWeights.random(C, 1, 0.3f), 4);
        m.install(new FullFineTuning(), new FullFineTuning.Config());
        return m;
    }

    @Test
    void resumingFromACheckpointContinuesBitForBit(@TempDir Path dir) throws Exception {
        PeftModel straight = fullModel();
        TrainingRun.EvalInfo a = run(straight, new Cycle(batches(5, 1)), dir.resolve("a"), 6, 0).run();

        // train 3 of 6 steps, stop as Ctrl-C would (with a checkpoint), resume in a fresh model
        PeftModel part = fullModel();
        TrainingRun r1 = run(part, new Cycle(batches(5, 1)), dir.resolve("c"), 6, 3);
        r1.listenerStopAfter(3);
        r1.run();
        assertEquals(3, r1.step());
        PeftModel resumed = fullModel();
        TrainingRun r2 = run(resumed, new Cycle(batches(5, 1)), dir.resolve("c"), 6, 0);
        r2.resume(TrainingRun.findCheckpoint(dir.resolve("c")));
        TrainingRun.EvalInfo b = r2.run();
        assertEquals(a.loss(), b.loss());
        List<Parameter> x = straight.trainableParameters(), y = resumed.trainableParameters();
        for (int i = 0; i < x.size(); i++) assertArrayEquals(x.get(i).data(), y.get(i).data(), x.get(i).name());
        List<String> lines = Files.readAllLines(dir.resolve("c/metrics.jsonl"));
        assertEquals(6 + 3, lines.size(), "6 train rows and 3 validations: " + lines);
    }

    @Test
    void aFailedWriteLeavesThePreviousCheckpointWhole(@TempDir Path dir) throws Exception {
        PeftModel m = fullModel();
        Cycle source = new Cycle(batches(3, 7));
        TrainingRun r = run(m, source, dir, 4, 2);
        source.failAt = 8; // the save at step 4 (after 8 micro-batches) fails
        assertThrows(IllegalStateException.class, r::run);
        Path ckpt = TrainingRun.findCheckpoint(dir);
        assertNotNull(ckpt);
        assertTrue(Files.readString(ckpt.resolve("state.json")).contains("\"step\" : 2"), "the step-2 checkpoint is still there");
        PeftModel again = fullModel();
        TrainingRun r2 = run(again, new Cycle(batches(3, 7)), dir, 4, 0);
        r2.resume(ckpt);
        assertEquals(2, r2.step());
    }
}
