package dev.peft4j.models.io;

import dev.peft4j.api.io.DType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.function.Supplier;

import static dev.peft4j.models.io.Llama2cCheckpointTest.assertSameWeights;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loading copies each tensor once, from the memory mapping straight into the weight arrays: the
 * heap allocated by a load is the weights themselves plus a small constant, never a second copy
 * of the file (counted with the JVM's per-thread allocation counter, not timed).
 */
class CheckpointMemoryTest {
    @TempDir
    Path dir;

    @Test
    void loadingAllocatesTheWeightsAndLittleElse() throws IOException {
        LlamaConfig c = LlamaConfig.of(256, 512, 2, 8, 4, 1000, 64, false);
        LlamaWeights w = LlamaWeights.random(c, 1, 0.1f);
        long weightBytes = 4 * w.tensors().stream().mapToLong(LlamaWeights.Tensor::size).sum();
        Path bin = dir.resolve("m.bin"), hf = dir.resolve("hf"), hf16 = dir.resolve("hf16");
        Llama2cCheckpoint.write(w, bin);
        HfCheckpoint.write(w, hf, DType.F32, 1 << 20);
        HfCheckpoint.write(w, hf16, DType.BF16, 0);
        check("llama2.c", weightBytes, w, () -> Llama2cCheckpoint.read(bin));
        check("HF f32 sharded", weightBytes, w, () -> HfCheckpoint.read(hf));
        // BF16 matrices are read in place from the mapped file: only the float32 norm weights reach the heap
        long normBytes = 4L * w.tensors().stream().filter(t -> t.shape().length == 1).mapToLong(LlamaWeights.Tensor::size).sum();
        check("HF bf16 (mapped, not expanded)", normBytes, null, () -> HfCheckpoint.read(hf16));
    }

    /**
     * Bytes allocated so far by this thread ({@code com.sun.management.ThreadMXBean}), reached by
     * reflection because the test is compiled inside the models module, which does not read
     * java.management; the tests themselves run on the class path.
     */
    private static long allocatedBytes() {
        try {
            Object bean = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
            Method m = Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class);
            return (long) m.invoke(bean, Thread.currentThread().threadId());
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static void check(String what, long weightBytes, LlamaWeights expected, Supplier<LlamaWeights> load) {
        load.get(); // warm up class loading and JSON machinery
        long before = allocatedBytes();
        LlamaWeights loaded = load.get();
        long allocated = allocatedBytes() - before;
        long overhead = allocated - weightBytes;
        System.out.printf("%s: weights %d bytes, load allocated %d (overhead %d)%n", what, weightBytes, allocated, overhead);
        assertTrue(overhead < 1 << 20, what + ": load allocated " + allocated + " bytes for " + weightBytes + " bytes of weights");
        if (expected != null) assertSameWeights(expected, loaded);
    }
}
