package dev.peft4j.cli;

import static dev.peft4j.cli.CliTest.assertUserError;
import static dev.peft4j.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@code bench train --device} in the default build, which has no TornadoVM backend: tornado fails
 * with the reason, auto falls back to the CPU and says so, a bad value is a user error.
 */
class DeviceOptionTest {
    @Test
    void tornadoWithoutTheBackendIsAUserError() {
        CliTest.Run r = run("bench", "train", "--method", "lora", "--device", "tornado", "--batch", "1", "--seq", "8", "--steps", "1");
        assertUserError(r, "TornadoVM is not available: ");
        assertUserError(run("bench", "train", "--device", "tornado:1", "--steps", "1"), "TornadoVM is not available: ");
    }

    @Test
    void autoRunsOnTheCpuAndSaysSo() {
        CliTest.Run r = run("bench", "train", "--method", "lora", "--device", "auto", "--batch", "1", "--seq", "8", "--steps", "1",
                "--warmup", "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("device: auto -> cpu (TornadoVM is not available: "), r.out());
        assertTrue(r.out().contains("median: "), r.out());
    }

    @Test
    void unknownDeviceIsAUserError() {
        assertUserError(run("bench", "train", "--device", "gpu"), "--device: unknown device 'gpu' (expected auto, cpu, tornado or tornado:N)");
    }
}
