package dev.peft4j.models.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.UserException;
import dev.peft4j.models.train.Batch;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Batch layout, padding, epoch order, determinism and resume of both loaders. */
class DataLoaderTest {
    /** Example i: tokens 10*i+10, 10*i+11, ... (length 3 + i % 4), prompt length 1 + i % 2. */
    private static ExampleSet examples(int n) {
        ExampleSet.Builder b = new ExampleSet.Builder();
        for (int i = 0; i < n; i++) {
            int[] t = new int[3 + i % 4];
            for (int k = 0; k < t.length; k++) t[k] = 10 * i + 10 + k;
            b.add(new TokenizedExample(t, 1 + i % 2, t.length));
        }
        return b.build();
    }

    @Test
    void rowsAreShiftedWeightedAndPadded() {
        ExampleSet set = examples(3); // lengths 3, 4, 5; prompts 1, 2, 1
        Batch b = new ExampleLoader(set, 3, 0, false, 1).next();
        assertEquals(4, b.seqLen()); // the longest example, 5 tokens, gives 4 positions
        assertArrayEquals(new int[] {10, 11, 0, 0, 20, 21, 22, 0, 30, 31, 32, 33}, b.inputs());
        assertArrayEquals(new int[] {11, 12, 0, 0, 21, 22, 23, 0, 31, 32, 33, 34}, b.targets());
        assertArrayEquals(new float[] {1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1}, b.weights());
        Batch fixed = new ExampleLoader(set, 3, 6, false, 1).next();
        assertEquals(6, fixed.seqLen());
        assertArrayEquals(new int[] {20, 21, 22, 0, 0, 0}, java.util.Arrays.copyOfRange(fixed.inputs(), 6, 12));
        assertEquals(b.weightSum(), fixed.weightSum());
        UserException e = assertThrows(UserException.class, () -> new ExampleLoader(set, 3, 3, false, 1));
        assertTrue(e.getMessage().contains("maxSeqLength <= 4"), e.getMessage());
    }

    @Test
    void everyEpochVisitsEveryExampleOnceInItsOwnOrder() {
        ExampleSet set = examples(10);
        ExampleLoader l = new ExampleLoader(set, 4, 8, true, 42);
        assertEquals(3, l.batchesPerEpoch());
        List<Integer> seen = new ArrayList<>();
        for (int k = 0; k < 5; k++) { // 20 rows = 2 epochs exactly
            Batch b = l.next();
            for (int r = 0; r < 4; r++) seen.add((b.inputs()[r * 8] - 10) / 10);
        }
        List<Integer> e0 = seen.subList(0, 10), e1 = seen.subList(10, 20);
        assertEquals(Set.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), new HashSet<>(e0));
        assertEquals(Set.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), new HashSet<>(e1));
        assertNotEquals(e0, e1);
        assertEquals(new DataLoader.Position(2, 0, 42), l.position());
        List<Integer> inOrder = new ArrayList<>();
        ExampleLoader plain = new ExampleLoader(set, 4, 8, false, 42);
        for (int k = 0; k < 3; k++) {
            Batch b = plain.next();
            for (int r = 0; r < 4; r++) inOrder.add((b.inputs()[r * 8] - 10) / 10);
        }
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1), inOrder); // the third batch runs on into epoch 1
    }

    @Test
    void sameSeedSameBatchesAndResumeContinuesExactly() {
        ExampleSet set = examples(7);
        ExampleLoader a = new ExampleLoader(set, 3, 0, true, 9), b = new ExampleLoader(set, 3, 0, true, 9);
        for (int k = 0; k < 4; k++) assertBatchEquals(a.next(), b.next());
        DataLoader.Position saved = a.position();
        List<Batch> expected = new ArrayList<>();
        for (int k = 0; k < 6; k++) expected.add(a.next());
        ExampleLoader resumed = new ExampleLoader(set, 3, 0, true, 0); // another seed: the position brings its own
        resumed.restore(saved);
        for (Batch e : expected) assertBatchEquals(e, resumed.next());
        assertEquals(a.position(), resumed.position());
    }

    @Test
    void evaluationBatchesCoverEachExampleOnce() {
        ExampleSet set = examples(5);
        List<Batch> batches = ExampleLoader.evaluationBatches(set, 2, 6);
        assertEquals(3, batches.size());
        Batch last = batches.get(2);
        assertEquals(50, last.inputs()[0]); // example 4
        assertEquals(0, last.inputs()[6]);
        assertEquals(0.0, java.util.stream.IntStream.range(6, 12).mapToDouble(i -> last.weights()[i]).sum());
    }

    @Test
    void windowsSequentialAndRandomResume() {
        int[] stream = new int[50];
        for (int i = 0; i < 50; i++) stream[i] = 100 + i;
        ExampleSet text = ExampleSet.stream(stream);
        WindowLoader seq = new WindowLoader(text, 2, 8, false, 1); // (50 - 1) / 8 = 6 windows
        assertEquals(3, seq.batchesPerEpoch());
        Batch b0 = seq.next();
        assertArrayEquals(new int[] {100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115}, b0.inputs());
        assertArrayEquals(new int[] {101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116}, b0.targets());
        assertEquals(16.0, b0.weightSum());
        seq.next();
        seq.next();
        assertEquals(new DataLoader.Position(1, 0, 1), seq.position());
        assertEquals(100, seq.next().inputs()[0]); // epoch 1 starts over

        WindowLoader rnd = new WindowLoader(text, 3, 8, true, 77);
        for (int k = 0; k < 3; k++) rnd.next();
        DataLoader.Position saved = rnd.position();
        List<Batch> expected = new ArrayList<>();
        for (int k = 0; k < 5; k++) expected.add(rnd.next());
        WindowLoader again = new WindowLoader(text, 3, 8, true, 1);
        again.restore(saved);
        for (Batch e : expected) assertBatchEquals(e, again.next());
        for (Batch e : expected) {
            for (int r = 0; r < 3; r++) {
                int start = e.inputs()[r * 8] - 100;
                assertTrue(start >= 0 && start + 8 < 50);
                for (int t = 0; t < 8; t++) assertEquals(100 + start + t + 1, e.targets()[r * 8 + t]);
            }
        }
        assertThrows(UserException.class, () -> new WindowLoader(ExampleSet.stream(new int[8]), 1, 8, true, 1));
    }

    @Test
    void windowEvaluationPadsTheLastBatch() {
        int[] stream = new int[20];
        for (int i = 0; i < 20; i++) stream[i] = 3 + i;
        List<Batch> batches = WindowLoader.evaluationBatches(ExampleSet.stream(stream), 2, 6); // 3 windows: 19 / 6
        assertEquals(2, batches.size());
        assertEquals(18.0, batches.get(0).weightSum() + batches.get(1).weightSum());
        assertEquals(6.0, batches.get(1).weightSum());
    }

    private static void assertBatchEquals(Batch e, Batch a) {
        assertEquals(e.seqLen(), a.seqLen());
        assertArrayEquals(e.inputs(), a.inputs());
        assertArrayEquals(e.targets(), a.targets());
        assertArrayEquals(e.weights(), a.weights());
    }
}
