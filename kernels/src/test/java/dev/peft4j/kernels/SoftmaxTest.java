package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.check;
import static dev.peft4j.kernels.TensorCheck.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.peft4j.kernels.reference.Reference;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SoftmaxTest {

    @Test
    void matchesReferenceOnARunInsideABuffer() {
        float[] x = random(new SplittableRandom(7), 30, 6.0);
        float[] got = x.clone(), want = x.clone();
        Softmax.forward(got, 5, 20);
        Reference.softmax(want, 5, 20);
        check("softmax [5, 25) vs reference", got, want, 1e-6);
        double sum = 0;
        for (int i = 5; i < 25; i++) sum += got[i];
        assertEquals(1.0, sum, 1e-6);
        for (int i : new int[] {0, 4, 25, 29}) assertEquals(x[i], got[i], "outside the run: " + i);
    }

    @Test
    void largeValuesStayFinite() {
        float[] got = {100f, -100f, 99f, 0f, -100f};
        float[] want = got.clone();
        Softmax.forward(got, 0, got.length);
        Reference.softmax(want, 0, want.length);
        check("softmax at ±100 vs reference", got, want, 1e-6);
        assertEquals(1 / (1 + Math.exp(-1)), got[0], 1e-6);
    }

    @Test
    void singleElementIsOne() {
        float[] x = {42f};
        Softmax.forward(x, 0, 1);
        assertArrayEquals(new float[] {1f}, x);
    }
}
