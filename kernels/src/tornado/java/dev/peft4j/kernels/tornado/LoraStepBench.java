package dev.peft4j.kernels.tornado;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Times LoRA training steps on a TornadoVM device for a random model of a given shape, and prints
 * one line {@code tokens/s=... device_mem_mib=...} for the GPU check script.
 *
 * <p>Arguments: dim layers heads kvHeads hidden vocab batch seq rank steps [device index].
 */
public final class LoraStepBench {
    private LoraStepBench() {}

    public static void main(String[] a) {
        int[] v = new int[10];
        for (int i = 0; i < 10; i++) v[i] = Integer.parseInt(a[i]);
        int device = a.length > 10 ? Integer.parseInt(a[10]) : 0;
        TornadoBackend.unavailableReason().ifPresent(reason -> {
            throw new IllegalStateException(reason);
        });
        LoraStep.Shape s = new LoraStep.Shape(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], 2f * v[8], 1e-5f, 10000);
        System.out.println("device: " + TornadoBackend.describe(TornadoBackend.device(device)));
        int n = s.n(), steps = v[9];
        SplittableRandom r = new SplittableRandom(1);
        int[] tokens = new int[n], targets = new int[n];
        float[] weights = new float[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = r.nextInt(s.vocab());
            targets[i] = r.nextInt(s.vocab());
            weights[i] = 1f;
        }
        try (LoraStep step = LoraStep.onDevice(s, LoraStep.Weights.random(s, 1), 2, TornadoBackend.device(device))) {
            long t0 = System.nanoTime();
            double loss = step.step(tokens, targets, weights, 1e-4f); // compiles the graph
            System.out.printf(Locale.ROOT, "first step (with compilation): %.1f s, loss %.4f%n", (System.nanoTime() - t0) / 1e9, loss);
            long t1 = System.nanoTime();
            for (int i = 0; i < steps; i++) loss = step.step(tokens, targets, weights, 1e-4f);
            double sec = (System.nanoTime() - t1) / 1e9 / steps;
            System.out.printf(Locale.ROOT, "tokens/s=%.1f step_s=%.4f loss=%.4f device_mem_mib=%d%n", n / sec, sec, loss,
                    step.deviceMemoryBytes() >> 20);
        }
    }
}
