package dev.peft4j.kernels.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.exceptions.TornadoExecutionPlanException;

/** Device-test helpers: run tasks once on the TornadoVM device, and compare with printed evidence. */
final class DeviceCheck {
    private DeviceCheck() {}

    /** Copies {@code in} to the device, runs the tasks, copies {@code out} back. */
    static void run(String graph, Object[] in, Object[] out, Consumer<TaskGraph> tasks) {
        TaskGraph g = new TaskGraph(graph).transferToDevice(DataTransferMode.EVERY_EXECUTION, in);
        tasks.accept(g);
        g.transferToHost(DataTransferMode.EVERY_EXECUTION, out);
        try (TornadoExecutionPlan plan = new TornadoExecutionPlan(g.snapshot())) {
            plan.withDevice(TornadoBackend.device(TornadoBackend.deviceIndexFromProperty())).execute();
        } catch (TornadoExecutionPlanException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Runs {@code steps} steps of both forms of a step on the same random batches (a masked prompt of two tokens per
     * sequence), AdamW at 1e-2; asserts each step's loss agrees within 1e-5 relative. Returns the device's losses.
     */
    static double[] stepsMatch(String label, LoraStep device, LoraStep java, LoraStep.Shape shape, int steps) {
        int n = shape.n();
        SplittableRandom r = new SplittableRandom(3);
        double[] losses = new double[steps];
        for (int step = 0; step < steps; step++) {
            int[] tokens = new int[n], targets = new int[n];
            float[] lossWeights = new float[n];
            for (int i = 0; i < n; i++) {
                tokens[i] = r.nextInt(shape.vocab());
                targets[i] = r.nextInt(shape.vocab());
                lossWeights[i] = i % shape.seq() < 2 ? 0f : 1f;
            }
            double onDevice = device.step(tokens, targets, lossWeights, 1e-2f);
            double inJava = java.step(tokens, targets, lossWeights, 1e-2f);
            System.out.printf(Locale.ROOT, "%s %d  loss device %.7f  java %.7f  diff %.2e%n", label, step, onDevice, inJava,
                    Math.abs(onDevice - inJava));
            assertEquals(inJava, onDevice, 1e-5 * Math.abs(inJava), "loss of step " + step);
            losses[step] = onDevice;
        }
        return losses;
    }

    static Object[] of(Object... a) {
        return a;
    }

    static float[] random(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return a;
    }

    /** Asserts max |actual − expected| <= relTol · max(1e-30, max |expected|) and prints the evidence. */
    static void check(String name, float[] actual, float[] expected, double relTol) {
        assertTrue(actual.length == expected.length, name + ": lengths differ");
        double diff = 0, max = 0;
        boolean finite = true;
        for (int i = 0; i < actual.length; i++) {
            finite &= Float.isFinite(actual[i]);
            diff = Math.max(diff, Math.abs((double) actual[i] - expected[i]));
            max = Math.max(max, Math.abs(expected[i]));
        }
        double tol = relTol * Math.max(max, 1e-30);
        System.out.printf(Locale.ROOT, "%-28s device %s  expected %s  max diff %.3e  tol %.3e%n", name,
                first(actual), first(expected), diff, tol);
        assertTrue(finite, name + ": non-finite values");
        assertTrue(diff <= tol, name + ": max diff " + diff + " > tol " + tol);
    }

    private static String first(float[] a) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < Math.min(3, a.length); i++) s.append(String.format(Locale.ROOT, i == 0 ? "%.5f" : " %.5f", a[i]));
        return s.append(a.length > 3 ? " ..]" : "]").toString();
    }
}
