package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.dot;
import static dev.peft4j.kernels.TensorCheck.finiteDifferences;
import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.kernels.reference.Reference;
import dev.peft4j.kernels.reference.ReferenceBackward;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class EmbeddingTest {
    static final int VOCAB = 7, DIM = 5;
    static final int[] TOKENS = {3, 0, 6, 3, 3, 1, 6}; // repeats: their gradients must sum
    static final int N = TOKENS.length;

    final SplittableRandom r = new SplittableRandom(6);
    final float[] table = random(r, VOCAB * DIM, 1.0); // [VOCAB][DIM]
    final float[] dOut = random(r, N * DIM, 1.0);      // [N][DIM]

    @Test
    void forwardMatchesReference() {
        float[] got = new float[N * DIM], want = new float[N * DIM];
        Embedding.forward(got, table, TOKENS, N, DIM);
        Reference.embedding(want, table, TOKENS, N, DIM);
        assertArrayEquals(want, got);
        check("embedding forward vs reference", got, want, 0);
    }

    @Test
    void backwardAddsIntoGradientsAndMatchesReference() {
        float[] d0 = random(r, VOCAB * DIM, 0.5);
        float[] got = d0.clone(), want = d0.clone();
        Embedding.backward(got, dOut, TOKENS, N, DIM);
        ReferenceBackward.embedding(want, dOut, TOKENS, N, DIM);
        check("embedding dtable (+= non-zero) vs ref", got, want, 1e-6);
        // rows of tokens never seen keep their initial gradient exactly
        for (int j = 0; j < DIM; j++) {
            assertEquals(d0[2 * DIM + j], got[2 * DIM + j]);
            assertEquals(d0[5 * DIM + j], got[5 * DIM + j]);
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        double[] t = toDouble(table);
        double[] fd = finiteDifferences(t, () -> dot(DoubleOps.embedding(t, TOKENS, N, DIM), dOut), 1e-5);
        float[] ref = new float[VOCAB * DIM], got = new float[VOCAB * DIM];
        ReferenceBackward.embedding(ref, dOut, TOKENS, N, DIM);
        Embedding.backward(got, dOut, TOKENS, N, DIM);
        check("embedding ref dtable vs FD(double)", ref, fd, 1e-6);
        check("embedding kernel dtable vs FD(double)", got, fd, 1e-4);
    }
}
