package dev.peft4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@link DeviceBackend} is found as a service by name, a provider that fails to load is reported rather than thrown,
 * and {@link DeviceStepSpec} refuses a base that does not fit its shape, naming the tensor. Two providers are registered
 * in this module's test resources: {@link Fake} and {@link Broken}, whose constructor throws.
 */
class DeviceBackendTest {
    /** A backend that runs nothing. */
    public static final class Fake implements DeviceBackend {
        static DeviceStepSpec opened;

        @Override public String name() { return "fake"; }
        @Override public Optional<String> unavailableReason() { return Optional.of("it is a test double"); }
        @Override public String describe(int device) { return "fake / " + device; }
        @Override public DeviceStep openTrainer(DeviceStepSpec spec, int device) {
            opened = spec;
            throw new IllegalArgumentException("fake runs nothing");
        }
    }

    /** A provider whose construction fails, as one whose runtime is missing would. */
    public static final class Broken implements DeviceBackend {
        public Broken() { throw new IllegalStateException("no runtime for Broken"); }
        @Override public String name() { return "broken"; }
        @Override public Optional<String> unavailableReason() { return Optional.empty(); }
        @Override public String describe(int device) { return ""; }
        @Override public DeviceStep openTrainer(DeviceStepSpec spec, int device) { return null; }
    }

    @Test
    void aBackendIsFoundByNameAndAFailingProviderIsReported() {
        DeviceBackend.Found fake = DeviceBackend.find("fake");
        assertTrue(fake.backend() instanceof Fake, String.valueOf(fake));
        assertNull(fake.whyNot());
        assertEquals("fake / 3", fake.backend().describe(3));

        DeviceBackend.Found none = DeviceBackend.find("absent");
        assertNull(none.backend());
        assertTrue(none.whyNot().startsWith("its backend could not be loaded (") && none.whyNot().contains("no runtime for Broken"), none.whyNot());
    }

    @Test
    void theSpecChecksTheBaseAgainstTheShape() {
        var shape = new DeviceStepSpec.Shape(8, 2, 2, 1, 12, 10, 1, 4);
        assertEquals(4, shape.kvDim());
        DeviceStepSpec.Base good = base(shape, 12);
        var lowRank = new DeviceStepSpec.LowRank(2, 0.5f, Set.of(DeviceStepSpec.Linear.V, DeviceStepSpec.Linear.Q), true);
        assertEquals(EnumSet.of(DeviceStepSpec.Linear.Q, DeviceStepSpec.Linear.V), lowRank.linears());
        var spec = new DeviceStepSpec(shape, 1e-5f, new double[2], lowRank, null, new DeviceStepSpec.GatedPrompt(3, 1), good);
        DeviceBackend.Found fake = DeviceBackend.find("fake");
        assertThrows(IllegalArgumentException.class, () -> fake.backend().openTrainer(spec, 0));
        assertSame(spec, Fake.opened);

        var e = assertThrows(IllegalArgumentException.class, () -> new DeviceStepSpec(shape, 1e-5f, new double[2], null, null, null, base(shape, 11)));
        assertEquals("wGate[0] holds 88 floats, the shape wants 96", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DeviceStepSpec(shape, 1e-5f, new double[3], null, null, null, good));
        assertEquals("invFreq has 3 frequencies; head width 4 wants half that", e.getMessage());
        float[] embed = good.embed();
        var tied = new DeviceStepSpec.Base(embed, good.attnNorm(), good.wq(), good.wk(), good.wv(), good.wo(), good.ffnNorm(), good.wGate(),
                good.wUp(), good.wDown(), good.finalNorm(), embed);
        e = assertThrows(IllegalArgumentException.class, () -> new DeviceStepSpec(shape, 1e-5f, new double[2], null, null, null, tied));
        assertEquals("head must be its own array, not the embedding's", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DeviceStepSpec.LowRank(2, 1f, Set.of(), false));
        assertEquals("a low-rank update on no linear", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DeviceStepSpec.Shape(8, 2, 3, 1, 12, 10, 1, 4));
    }

    private static DeviceStepSpec.Base base(DeviceStepSpec.Shape s, int hidden) {
        int d = s.dim(), kv = s.kvDim(), L = s.layers();
        return new DeviceStepSpec.Base(new float[s.vocab() * d], perLayer(L, d), perLayer(L, d * d), perLayer(L, kv * d), perLayer(L, kv * d),
                perLayer(L, d * d), perLayer(L, d), perLayer(L, hidden * d), perLayer(L, s.hidden() * d), perLayer(L, d * s.hidden()),
                new float[d], new float[s.vocab() * d]);
    }

    private static float[][] perLayer(int layers, int n) {
        return new float[layers][n];
    }
}
