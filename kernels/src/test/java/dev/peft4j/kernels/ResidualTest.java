package dev.peft4j.kernels;

import static dev.peft4j.kernels.TensorCheck.random;
import static dev.peft4j.kernels.TensorCheck.sameForEverySplit;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ResidualTest {

    @Test
    void addsDeltaInPlace() {
        SplittableRandom r = new SplittableRandom(8);
        float[] x = random(r, 17, 1.0), delta = random(r, 17, 1.0);
        float[] got = sameForEverySplit("residual", 17, pieces -> {
            float[] y = x.clone();
            for (int[] p : pieces) Residual.forward(y, delta, p[0], p[1]);
            return new float[][] {y};
        })[0];
        for (int i = 0; i < 17; i++) assertEquals(x[i] + delta[i], got[i], "element " + i);
    }
}
