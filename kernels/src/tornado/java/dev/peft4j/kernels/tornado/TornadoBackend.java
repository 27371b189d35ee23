package dev.peft4j.kernels.tornado;

import java.util.Optional;
import uk.ac.manchester.tornado.api.TornadoRuntime;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

/**
 * Finds the TornadoVM runtime and its devices. The backend runs only where the JVM was started
 * with TornadoVM's flags (its launcher's {@code --printJavaFlags}); elsewhere
 * {@link #unavailableReason()} says why, so that {@code --device tornado} can fail with a clear
 * message and {@code --device auto} can fall back to the CPU.
 *
 * <p>Devices are numbered over all of TornadoVM's backends in order (driver 0's devices first),
 * which is what {@code --device tornado:N} counts.
 */
public final class TornadoBackend {
    private TornadoBackend() {}

    /** System property naming the device index the device tests use (default 0). */
    public static final String DEVICE_PROPERTY = "peft4j.tornado.device";

    /** Empty when TornadoVM can run here; otherwise a sentence saying why not. */
    public static Optional<String> unavailableReason() {
        try {
            TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
            if (runtime == null) return Optional.of("TornadoVM is not available: the JVM was not started with its flags");
            int devices = 0;
            for (int b = 0; b < runtime.getNumBackends(); b++) devices += runtime.getBackend(b).getNumDevices();
            return devices == 0 ? Optional.of("TornadoVM is not available: it found no device") : Optional.empty();
        } catch (LinkageError | RuntimeException e) {
            return Optional.of("TornadoVM is not available: " + e);
        }
    }

    /** The index-th device over all backends; throws IllegalArgumentException naming the range. */
    public static TornadoDevice device(int index) {
        TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
        int seen = 0;
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            int n = runtime.getBackend(b).getNumDevices();
            if (index < seen + n) return runtime.getBackend(b).getDevice(index - seen);
            seen += n;
        }
        throw new IllegalArgumentException("TornadoVM device " + index + " does not exist: there are " + seen);
    }

    /** The device index in {@link #DEVICE_PROPERTY}, or 0. */
    public static int deviceIndexFromProperty() {
        return Integer.getInteger(DEVICE_PROPERTY, 0);
    }

    /**
     * The device index of a {@code --device} value {@code tornado} or {@code tornado:N}; empty for any
     * other value (cpu, auto).
     */
    public static Optional<Integer> parseDeviceSpec(String spec) {
        if (spec.equals("tornado")) return Optional.of(0);
        if (!spec.startsWith("tornado:")) return Optional.empty();
        try {
            int n = Integer.parseInt(spec.substring("tornado:".length()));
            if (n < 0) throw new NumberFormatException();
            return Optional.of(n);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad device '" + spec + "': expected tornado or tornado:N with N >= 0");
        }
    }

    /** "backend / platform / device name" for reports. */
    public static String describe(TornadoDevice device) {
        return device.getTornadoVMBackend() + " / " + device.getPlatformName() + " / " + device.getDeviceName();
    }
}
